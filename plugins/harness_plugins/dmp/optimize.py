"""Semantics-preserving rewrites of the XSLT the ISO skeleton generates, and the assert index.

The skeleton compiles each schematron ``pattern`` into an XSLT mode and runs
every mode as a full recursive walk of the document (``apply-templates
select="/" mode="Mn"`` and a default rule that recurses into ``*``). With 141
patterns (CI-SIS_ModelesDeContenusCDA) that is 141 walks; the structuration
minimale's 765 rules all re-test the same ``//hl7:ClinicalDocument[...]``
prefix on every element. Saxon-HE on GraalVM has no JIT to hide that, so:

* **flatten** — a mode is applied to the union of the nodes its rules can match
  (each rule's pattern read as a path), in document order, filtered to the node
  kinds the original walk visits; rule bodies lose their trailing recursion and
  the default rule does nothing. Every visited node still meets the same
  template rules in the same mode with the same priorities, so it fires the
  same rule and emits the same SVRL in the same order;
* **hoist** — a first step shared by several of those paths
  (``//hl7:ClinicalDocument[...]``) is evaluated once into a variable;
* **key** — ``//*[cda:templateId/@root = 'X']`` becomes ``key('harness-tid', 'X')``
  over ``*[cda:templateId]`` (same nodes, same order, one scan of the document);
* **share** — an assert or report block written identically in several rules (the
  structuration minimale repeats 877 distinct blocks 12,925 times: the same datatype rules at
  every context) becomes one named template, and each rule calls it. ``xsl:call-template``
  keeps the context item, position and size, so the block tests the same node and writes the
  same SVRL; Saxon then compiles 877 blocks instead of 12,925, which cuts the processor's
  memory and load time. A block that reads a variable its rule declared before it gets that
  variable as a parameter; one that reads a rule variable declared elsewhere is left in place.

A mode is left untouched when anything in it falls outside this shape (a rule
whose body does not end with the recursion, a pattern using ``current()``,
namespace bindings that differ from the root template's). The one behavioural
difference is that a pattern that raises a dynamic error on some node is no
longer a silent non-match: the flattened select then raises
:data:`SELECT_FAILED`, :mod:`.engine` re-runs that document with the unflattened
stylesheet, and the test suite compares both outputs.

:func:`assert_index` reads the same XSLT and records, for each assert/report,
its pattern, rule context, role, test and message, so SVRL findings can be
given stable requirement ids (the SVRL this skeleton writes carries no
``@test``).
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections import Counter
from typing import Any

from lxml import etree

XSL = "http://www.w3.org/1999/XSL/Transform"
SVRL = "http://purl.oclc.org/dsdl/svrl"
NS = {"xsl": XSL, "svrl": SVRL}
APPLY = f"{{{XSL}}}apply-templates"
VERSION = "3"
HARNESS_NS = "urn:harness:dmp"
#: The text of the error a flattened select raises (see :func:`_guard_select`).
SELECT_FAILED = "harness: a flattened pattern raised a dynamic error"

_MODE_RE = re.compile(r"M\d+")
_VAR_REF = re.compile(r"\$([A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?)")
_RULE_ATTRS = {"match", "priority", "mode"}
_TID_RE = re.compile(r"//\*\[cda:templateId/@root\s*=\s*('[^']*'|\"[^\"]*\")\]")
_KINDS = {"*": "self::element()", "comment()": "self::comment()",
          "processing-instruction()": "self::processing-instruction()", "node()": "true()"}


def split_top(expr: str, sep: str = "|") -> list[str]:
    """Split an XPath expression on ``sep`` outside brackets, parentheses and string literals."""
    parts: list[str] = []
    depth, quote, cur = 0, None, []
    for ch in expr:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def _first_step(path: str) -> tuple[str, str]:
    """``//a[x]/b/c`` -> (``//a[x]``, ``/b/c``); the rest is empty when there is one step."""
    body = path[2:]
    depth, quote = 0, None
    for i, ch in enumerate(body):
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "/" and depth == 0:
            return "//" + body[:i], body[i:]
    return path, ""


def _pattern_paths(match: str) -> list[str] | None:
    paths = []
    for part in split_top(match):
        if not part or "current()" in part:
            return None
        if part == "/" or part.startswith("/"):
            paths.append(part)
        else:
            paths.append("//" + part)
    return paths


def optimize(tree: etree._ElementTree, flatten: bool = True) -> dict[str, int]:
    """Rewrite a skeleton-generated stylesheet in place; returns counts of what was changed.

    ``flatten=False`` only shares repeated blocks: that rewrite keeps even the dynamic errors
    of the original, so it is what the engine falls back to when a flattened select fails
    (:data:`SELECT_FAILED`).
    """
    root = tree.getroot()
    stats: Counter[str] = Counter()
    if not flatten:
        _share_blocks(root, stats)
        return dict(stats)
    templates = root.findall("xsl:template", NS)
    roots = [t for t in templates if t.get("match") == "/" and not t.get("mode")]
    if len(roots) != 1:
        stats["skipped_stylesheet"] += 1
        return dict(stats)
    root_tpl = roots[0]
    calls: dict[str, Any] = {}
    for call in root_tpl.iter(APPLY):
        if call.get("select") == "/" and call.get("mode"):
            calls.setdefault(call.get("mode"), []).append(call)
    by_mode: dict[str, list[Any]] = {}
    for t in templates:
        mode = t.get("mode")
        if mode and _MODE_RE.fullmatch(mode):
            by_mode.setdefault(mode, []).append(t)
    root_ns = dict(root_tpl.nsmap)
    # ``<svrl:active-pattern><xsl:apply-templates/></svrl:active-pattern>``: a walk of the whole
    # document in the default mode, once per pattern. When the default mode only has the root
    # template and the no-output text() rule, that walk writes nothing: drop it.
    default_rules = [t for t in templates if not t.get("mode")]
    if all(t is root_tpl or (t.get("match") == "text()" and len(t) == 0) for t in default_rules):
        for walk in [a for a in root_tpl.iter(APPLY) if a.get("select") is None and a.get("mode") is None
                     and len(a) == 0 and a.getparent() is not None
                     and a.getparent().tag == f"{{{SVRL}}}active-pattern"]:
            walk.getparent().remove(walk)
            stats["noop_walks_dropped"] += 1
    plans = []
    for mode, tpls in by_mode.items():
        rules, defaults, recurse, ok = [], [], None, True
        for t in tpls:
            match, prio = t.get("match"), t.get("priority")
            if match == "text()" and prio == "-1":
                ok = ok and len(t) == 0
                continue
            if match == "@*|node()" and prio == "-2":
                kids = list(t)
                if len(kids) != 1 or kids[0].tag != APPLY or kids[0].get("mode") != mode or len(kids[0]):
                    ok = False
                else:
                    recurse = kids[0].get("select")
                defaults.append(t)
                continue
            rules.append(t)
        if not ok or recurse is None or len(calls.get(mode, [])) != 1 or len(defaults) != 1:
            stats["modes_kept"] += 1
            continue
        kinds = [k.strip() for k in recurse.split("|")]
        if any(k not in _KINDS for k in kinds):
            stats["modes_kept"] += 1
            continue
        paths: list[str] = []
        for t in rules:
            last = t[-1] if len(t) else None
            if (dict(t.nsmap) != root_ns or last is None or last.tag != APPLY or last.get("select") != recurse
                    or last.get("mode") != mode or len(last) or t.get("match") is None):
                ok = False
                break
            found = _pattern_paths(t.get("match"))
            if found is None:
                ok = False
                break
            paths.extend(found)
        if not ok:
            stats["modes_kept"] += 1
            continue
        plans.append((mode, rules, defaults[0], kinds, paths))

    shared = Counter(_first_step(p)[0] for *_, paths in plans for p in paths
                     if p.startswith("//") and _first_step(p)[1])
    hoisted: dict[str, str] = {}
    cda_ok = root.nsmap.get("cda") == "urn:hl7-org:v3" and root_ns.get("cda") == "urn:hl7-org:v3"
    for mode, rules, default, kinds, paths in plans:
        selects = []
        for path in paths:
            keyed = _TID_RE.fullmatch(path) if cda_ok else None
            if keyed:
                selects.append(f"key('harness-tid', {keyed.group(1)})")
                stats["keyed"] += 1
                continue
            if path.startswith("//"):
                step, rest = _first_step(path)
                if rest and shared[step] > 1:
                    name = hoisted.setdefault(step, f"harness-prefix-{len(hoisted)}")
                    path = f"${name}{rest}"
            selects.append(path)
        for t in rules:
            t.remove(t[-1])
        for child in list(default):
            default.remove(child)
        call = calls[mode][0]
        if selects:
            kind_filter = " or ".join(["self::document-node()"] + [_KINDS[k] for k in kinds])
            _guard_select(call, mode, "(" + " | ".join(f"({s})" for s in selects) + f")[{kind_filter}]")
        else:
            call.getparent().remove(call)
        stats["modes_flattened"] += 1
    for i, (step, name) in enumerate(hoisted.items()):
        root_tpl.insert(i, etree.Element(f"{{{XSL}}}variable", name=name, select=step))
    stats["prefixes_hoisted"] = len(hoisted)
    if stats["keyed"]:
        root.insert(0, etree.Element(f"{{{XSL}}}key", name="harness-tid", match="*[cda:templateId]",
                                     use="cda:templateId/@root"))
    _share_blocks(root, stats)
    return dict(stats)


def _guard_select(call: Any, mode: str, select: str) -> None:
    """Apply ``mode`` to the nodes of ``select``, computed first under ``xsl:try``.

    The walk this replaces matched each pattern node by node, and a pattern that raises a
    dynamic error there is only a non-match. Evaluated as one path, the same error would stop
    the run: it is caught and re-raised as :data:`SELECT_FAILED`, the one failure for which the
    engine re-runs the unflattened stylesheet. An error in a rule body is left alone: the
    original walk fires the same rule on the same node in the same order and fails the same way.
    """
    name = f"harness-nodes-{mode}"
    variable = etree.Element(f"{{{XSL}}}variable", name=name, attrib={"as": "node()*"})
    attempt = etree.SubElement(variable, f"{{{XSL}}}try", select=select)
    etree.SubElement(attempt, f"{{{XSL}}}catch",
                     select=f"error(QName('{HARNESS_NS}', 'flatten-select'), '{SELECT_FAILED}')")
    call.addprevious(variable)
    call.set("select", f"${name}")


def _share_blocks(root: Any, stats: Counter[str]) -> None:
    """Replace assert/report blocks repeated verbatim across rules by calls to one named template each.

    A block that reads variables its rule declared before it gets them as parameters of the
    same name (``xsl:with-param select="$v"`` passes the value unchanged); a block that reads
    a rule variable declared anywhere else is left in place.
    """
    root_ns = dict(root.nsmap)
    variable_tags = (f"{{{XSL}}}variable", f"{{{XSL}}}param")
    groups: dict[tuple[bytes, tuple[str, ...]], list[Any]] = {}
    for t in root.findall("xsl:template", NS):
        mode = t.get("mode")
        if not mode or not _MODE_RE.fullmatch(mode) or set(t.attrib) - _RULE_ATTRS:
            continue
        local = {v.get("name") for v in t.iter(*variable_tags)}
        in_scope: set[str] = set()
        for block in t:
            if block.tag in variable_tags:
                in_scope.add(block.get("name"))
                continue
            if block.tag not in (f"{{{XSL}}}choose", f"{{{XSL}}}if") or dict(block.nsmap) != root_ns:
                continue
            if not any(True for _ in block.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report")):
                continue
            text = etree.tostring(block, with_tail=False)
            own = {v.get("name") for v in block.iter(*variable_tags)}
            needed = (local - own) & set(_VAR_REF.findall(text.decode("utf-8")))
            if needed - in_scope:
                stats["blocks_kept_local_vars"] += 1
                continue
            groups.setdefault((text, tuple(sorted(needed))), []).append(block)
    for (_, params), blocks in groups.items():
        if len(blocks) < 2:
            continue
        name = f"harness-block-{stats['blocks_shared']}"
        named = etree.SubElement(root, f"{{{XSL}}}template", name=name)
        for param in params:
            etree.SubElement(named, f"{{{XSL}}}param", name=param)
        named.append(copy.deepcopy(blocks[0]))
        for block in blocks:
            call = etree.Element(f"{{{XSL}}}call-template", name=name)
            for param in params:
                etree.SubElement(call, f"{{{XSL}}}with-param", name=param, select=f"${param}")
            call.tail = block.tail
            block.getparent().replace(block, call)
        stats["blocks_shared"] += 1
        stats["block_calls"] += len(blocks)


# ----------------------------------------------------------------------------- assert index

_WS = re.compile(r"\s+")
_TAG_RE = re.compile(r"^\s*\[([^\]\n]{1,120})\]")


def norm(text: str) -> str:
    return _WS.sub(" ", text or "").strip()


def message_tag(text: str) -> str | None:
    """The bracketed tag that starts an ANS message (``[Entete_LDL-SES] …``), if any."""
    m = _TAG_RE.match(text or "")
    return m.group(1).strip() if m else None


def short_hash(text: str) -> str:
    return hashlib.sha1(norm(text).encode("utf-8")).hexdigest()[:10]


def _message_regex(text_el) -> str:
    """A regex for the SVRL text an assert produces: static text kept, computed parts as wildcards."""
    pieces: list[str] = []
    if text_el.text:
        pieces.append(re.escape(norm(text_el.text)))
    for child in text_el:
        if child.tag in (f"{{{XSL}}}value-of", f"{{{SVRL}}}value-of", f"{{{XSL}}}apply-templates",
                         f"{{{XSL}}}copy-of", f"{{{XSL}}}call-template"):
            pieces.append(".*?")
        elif child.tag == f"{{{XSL}}}text" and child.text:
            pieces.append(re.escape(norm(child.text)))
        if child.tail:
            pieces.append(re.escape(norm(child.tail)))
    joined = r"\s*".join(p for p in pieces if p)
    return "^" + joined + "$"


def assert_index(tree: etree._ElementTree) -> list[dict[str, Any]]:
    """Every assert/report of a skeleton-generated stylesheet: pattern, context, role, test, message regex."""
    root = tree.getroot()
    pattern_of_mode: dict[str, str] = {}
    roots = [t for t in root.findall("xsl:template", NS) if t.get("match") == "/" and not t.get("mode")]
    if roots:
        current = ""
        for el in roots[0].iter():
            if el.tag == f"{{{SVRL}}}active-pattern":
                ident = el.find("xsl:attribute[@name='id']", NS)
                current = norm(ident.text) if ident is not None and ident.text else (el.get("id") or "")
            elif el.tag == APPLY and el.get("select") == "/" and el.get("mode"):
                pattern_of_mode[el.get("mode")] = current
    out = []
    for t in root.findall("xsl:template", NS):
        mode = t.get("mode")
        if not mode or not _MODE_RE.fullmatch(mode) or t.get("priority") in ("-1", "-2"):
            continue
        fired = t.find("svrl:fired-rule", NS)
        context = fired.get("context") if fired is not None else t.get("match")
        rule_id = fired.get("id") if fired is not None else None
        for kind in ("failed-assert", "successful-report"):
            for el in t.iter(f"{{{SVRL}}}{kind}"):
                cond = el.getparent()
                if cond is not None and cond.tag == f"{{{XSL}}}otherwise":
                    cond = cond.getparent().find("xsl:when", NS)
                test = cond.get("test") if cond is not None else None
                role_el = el.find("xsl:attribute[@name='role']", NS)
                role = norm(role_el.text) if role_el is not None and role_el.text else el.get("role")
                text_el = el.find("svrl:text", NS)
                static = norm("".join(text_el.itertext())) if text_el is not None else ""
                out.append({
                    "mode": mode,
                    "pattern": pattern_of_mode.get(mode, ""),
                    "context": context,
                    "rule_id": rule_id,
                    "kind": kind,
                    "role": role or None,
                    "test": norm(test or ""),
                    "tag": message_tag(text_el.text if text_el is not None and text_el.text else static),
                    "regex": _message_regex(text_el) if text_el is not None else "^$",
                })
    return out
