"""Generate one specialised Python walker per FHIR type (lazily, on first use).

A generated walker is the fast walker of ``validator.py`` unrolled for one type: an
``if k == "system": … elif k == "code": …`` chain in place of the table look-up and the
dispatch on codes, the constants (caches, enums, target walkers) bound as globals, and the
type's required/choice checks inlined. It accepts a value only when a cheap test proves it
valid; on any miss it calls the reference handler ``key(o, T, k, x, path, out, depth, True)``,
which decides and words the issue. So generated and reference walkers report the same issues
(a test compares them on fuzzed resources).
"""

from __future__ import annotations

from typing import Any

INLINE_DEPTH = 0        # levels of child objects inlined into a walker (measured: no gain on 3.11)
INLINE_MAX_PROPS = 30   # only small types (Coding, Reference, Period, Quantity …) are inlined

_COMMON_LAST = ("extension", "id", "modifierExtension", "contained", "implicitRules", "language")
_RESOURCE_FIRST = ("resourceType", "id", "meta", "text")


# Choice-type suffixes by how common they are (Extension.value[x] has ~50 types).
_COMMON_TYPES = ("String", "Code", "Coding", "CodeableConcept", "Boolean", "DateTime", "Reference", "Identifier",
                 "Date", "Integer", "Decimal", "Quantity", "Uri", "Period", "Instant", "Address", "HumanName",
                 "Attachment", "Url", "Canonical", "Range", "Ratio", "Time", "Age", "Duration")


def _order(t, freq: dict[str, int] | None = None) -> list[str]:
    """Chain order: keys frequent in the pack's examples first, then a sensible default."""
    default = _default_order(t)
    if not freq:
        return default
    rank = {n: i for i, n in enumerate(default)}
    return sorted(default, key=lambda n: (-freq.get(n, 0), rank[n]))


def _suffix_rank(name: str) -> int:
    for i, suffix in enumerate(_COMMON_TYPES):
        if name.endswith(suffix) and name[: -len(suffix)] and name[-len(suffix) - 1].islower():
            return i
    return len(_COMMON_TYPES)


def _default_order(t) -> list[str]:
    names = list(t.fast)
    plain = [n for n in names if not n.startswith("_")]
    under = [n for n in names if n.startswith("_")]
    if t.is_resource:
        first = [n for n in _RESOURCE_FIRST if n in t.fast]
    else:
        first = []
    last = [n for n in _COMMON_LAST if n in t.fast and n not in first]
    middle = [n for n in plain if n not in first and n not in last]
    choice_members = {n for _stem, names in t.choices for n in names}
    if choice_members:
        pos = {n: i for i, n in enumerate(middle)}
        middle.sort(key=lambda n: (pos[n] if n not in choice_members else len(middle) + _suffix_rank(n), pos[n]))
    return first + middle + last + under


class WalkerFactory:
    """Builds walkers into one namespace; ``walker(t)`` returns the function for type ``t``."""

    def __init__(self, codes: dict[str, int], key, resource, binding, not_object, fmt, required_issue,
                 choice_issue, max_len: int, key_frequencies: dict[str, dict[str, int]] | None = None):
        self.codes = codes
        self.freq = key_frequencies or {}
        self.ns: dict[str, Any] = {
            "key": key, "resource": resource, "binding": binding, "not_object": not_object, "fmt": fmt,
            "required_issue": required_issue, "choice_issue": choice_issue, "MAXLEN": max_len,
        }
        self._names: dict[int, str] = {}
        self._types: dict[str, Any] = {}

    def name_of(self, t) -> str:
        """Global name of ``t``'s walker in the namespace (a stub that generates it until first use)."""
        name = self._names.get(id(t))
        if name is None:
            name = f"w_{t.name}"
            self._names[id(t)] = name
            self._types[name] = t

            def stub(o, path, out, depth, _t=t, _name=name):
                fn = self.generate(_t)
                return fn(o, path, out, depth)
            self.ns[name] = stub
        return name

    def walker(self, t):
        name = self.name_of(t)
        return lambda o, path, out, depth: self.ns[name](o, path, out, depth)

    def generate(self, t):
        name = self.name_of(t)
        current = self.ns[name]
        if getattr(current, "_generated", False):
            return current
        src = self._source(t, name)
        code = compile(src, f"<fhir walker {t.name}>", "exec")
        exec(code, self.ns)
        fn = self.ns[name]
        fn._generated = True
        return fn

    # ---- source ------------------------------------------------------------------------------

    def _const(self, value: Any, hint: str) -> str:
        name = f"c_{hint}_{id(value):x}"
        self.ns[name] = value
        return name

    def _source(self, t, name: str) -> str:
        lines = [f"def {name}(o0, p0, out, depth):"]
        lines += self._object(t, 0, "p0", "    ", (t.name,))
        return "\n".join(lines) + "\n"

    def _inline(self, ct, level: int, ancestors: tuple) -> bool:
        """Inline a child type's loop instead of calling its walker (saves a call and a path tuple
        per object): small types only, at most INLINE_DEPTH levels, never recursively."""
        return (level < INLINE_DEPTH and ct.name not in ancestors and not ct.is_resource
                and len(ct.fast) <= INLINE_MAX_PROPS)

    def _object(self, t, L: int, P: str, ind: str, ancestors: tuple) -> list[str]:
        """Lines validating the dict ``o{L}`` of type ``t`` whose (lazy) path expression is ``P``."""
        o, k, x = f"o{L}", f"k{L}", f"x{L}"
        tname = self._const(t, "T")
        miss = f"key({o}, {tname}, {k}, {x}, fmt({P}), out, depth, True)"
        lines = [f"{ind}for {k}, {x} in {o}.items():"]
        first = True
        for prop in _order(t, self.freq.get(t.name)):
            f = t.fast[prop]
            kw = "if" if first else "elif"
            first = False
            lines.append(f"{ind}    {kw} {k} == {prop!r}:")
            lines += self._body(f, L, P, ind + "        ", miss, ancestors)
        if first:
            lines.append(f"{ind}    {miss}")
        else:
            lines += [f"{ind}    else:", f"{ind}        {miss}"]
        lines += self._post(t, L, P, ind)
        return lines

    def _post(self, t, L: int, P: str, ind: str) -> list[str]:
        """Inline version of validator._make_post: same checks, same order, same issues."""
        o = f"o{L}"
        lines = []
        owner = t.name.replace("_", ".")
        for label, names in t.required:
            cond = " and ".join(f"{n!r} not in {o}" for n in names)
            lines += [f"{ind}if {cond}:", f"{ind}    required_issue({P}, {owner!r}, {label!r}, out)"]
        for stem, names in t.choices:
            names_c = self._const(tuple(names), "names")
            if len(names) <= 3:
                cond = " + ".join(f"({n!r} in {o})" for n in names)
                lines += [f"{ind}if {cond} > 1:"]
            else:
                members = self._const(frozenset(names), "choice")
                lines += [f"{ind}n{L} = 0", f"{ind}for kk{L} in {o}:", f"{ind}    if kk{L} in {members}:",
                          f"{ind}        n{L} += 1", f"{ind}if n{L} > 1:"]
            lines += [f"{ind}    choice_issue({o}, {P}, {stem!r}, {names_c}, out)"]
        for inv in t.invariants:
            lines.append(f"{ind}{self._const(inv, 'inv')}({o}, {P}, out)")
        return lines

    def _body(self, f: tuple, L: int, P: str, ind: str, miss: str, ancestors: tuple) -> list[str]:
        c = self.codes
        A = 20
        code = f[0]
        o, k, x, it, i = f"o{L}", f"k{L}", f"x{L}", f"it{L}", f"i{L}"
        if code == c["F_IGNORE"]:
            return [f"{ind}pass"]
        if code in (c["F_CPLX"], c["F_PEXT"], c["F_BOUND"]):
            cp = f"({P}, {k})"
            lines = [f"{ind}if type({x}) is dict and {x}:"]
            ct = f[1]
            if self._inline(ct, L, ancestors):
                lines.append(f"{ind}    o{L + 1} = {x}")
                lines += self._object(ct, L + 1, cp, ind + "    ", ancestors + (ct.name,))
            else:
                lines.append(f"{ind}    {self.name_of(ct)}({x}, {cp}, out, depth)")
            if code == c["F_BOUND"]:
                lines.append(f"{ind}    binding({x}, {self._const(f[2], 'bind')}, {cp}, out)")
            return lines + [f"{ind}else:", f"{ind}    {miss}"]
        if code == c["F_RES"]:
            return [f"{ind}if type({x}) is dict:", f"{ind}    resource({x}, ({P}, {k}), out, depth + 1, True)",
                    f"{ind}else:", f"{ind}    {miss}"]
        if code < A:
            test = self._test(code, f, x)
            if test is None:
                return [f"{ind}{miss}"]
            return [f"{ind}if not ({test}):", f"{ind}    {miss}"]
        # arrays
        base = code - A
        under = f[2]
        bad_item = f"out.append(not_object({it}, f'{{fmt({P})}}.{{{k}}}[{{{i}}}]'))"
        if base in (c["F_CPLX"], c["F_PEXT"], c["F_BOUND"]):
            cp = f"({P}, {k}, {i})"
            ct = f[1]
            lines = [f"{ind}if type({x}) is list and {x}:", f"{ind}    {i} = 0", f"{ind}    for {it} in {x}:",
                     f"{ind}        if type({it}) is dict and {it}:"]
            if self._inline(ct, L, ancestors):
                lines.append(f"{ind}            o{L + 1} = {it}")
                lines += self._object(ct, L + 1, cp, ind + "            ", ancestors + (ct.name,))
            else:
                lines.append(f"{ind}            {self.name_of(ct)}({it}, {cp}, out, depth)")
            if base == c["F_BOUND"]:
                lines.append(f"{ind}            binding({it}, {self._const(f[2], 'bind')}, {cp}, out)")
            if base == c["F_PEXT"]:
                lines += [f"{ind}        elif {it} is not None:", f"{ind}            {bad_item}"]
            else:
                lines += [f"{ind}        else:", f"{ind}            {bad_item}"]
            return lines + [f"{ind}        {i} += 1", f"{ind}else:", f"{ind}    {miss}"]
        if base == c["F_RES"]:
            return [f"{ind}if type({x}) is list and {x}:", f"{ind}    {i} = 0", f"{ind}    for {it} in {x}:",
                    f"{ind}        if type({it}) is dict:",
                    f"{ind}            resource({it}, ({P}, {k}, {i}), out, depth + 1, True)",
                    f"{ind}        else:", f"{ind}            {bad_item}",
                    f"{ind}        {i} += 1", f"{ind}else:", f"{ind}    {miss}"]
        test = self._test(base, f, it)
        if test is None:
            return [f"{ind}{miss}"]
        return [f"{ind}if type({x}) is list and {x}:",
                f"{ind}    for {it} in {x}:",
                f"{ind}        if not ({test}):",
                f"{ind}            {miss}",
                f"{ind}            break",
                f"{ind}    else:",
                f"{ind}        if {under!r} in {o}:",
                f"{ind}            {miss}",
                f"{ind}else:", f"{ind}    {miss}"]

    def _test(self, code: int, f: tuple, v: str) -> str | None:
        """A Python expression true only when ``v`` is certainly valid (None: always defer)."""
        c = self.codes
        if code == c["F_STR"]:
            return f"type({v}) is str and {v} and {v}.isprintable() and len({v}) <= MAXLEN"
        if code == c["F_URI"]:
            return f"type({v}) is str and {v} and {v}.isprintable() and ' ' not in {v}"
        if code == c["F_CODE"]:
            return (f"type({v}) is str and {v} and {v}.isprintable() and '  ' not in {v} "
                    f"and {v}[0] != ' ' and {v}[-1] != ' '")
        if code == c["F_ENUM"]:
            return f"type({v}) is str and {v} in {self._const(f[1], 'enum')}"
        if code == c["F_RX"]:
            return f"type({v}) is str and ({v} in {self._const(f[1], 'cache')} or {self._const(f[3], 'ok')}({v}))"
        if code == c["F_BOOL"]:
            return f"type({v}) is bool"
        if code == c["F_CALL"]:
            return f"{self._const(f[1], 'chk')}({v}) is None"
        return None
