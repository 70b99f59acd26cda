"""Reading the portal's ratings export: formats, normalisation and every kind of bad row."""

from __future__ import annotations

import json

import pytest

from harness_plugins.peers.ratings import FACETS, facet_key, normalise_score, parse_ratings, read_ratings

HEADER = "product,version,facet,score,scale,date,reviewer\n"


def csv_bytes(*rows: str, header: str = HEADER) -> bytes:
    return (header + "".join(r + "\n" for r in rows)).encode("utf-8")


def test_valid_csv_rows_are_imported_and_normalised():
    data = parse_ratings(csv_bytes("Cab,1.0,global,5,5,2026-01-01,r1", "Cab,1.0,support,1,5,2026-01-02,r2",
                                   "Cab,,ergonomie,7.5,10,2026-01-03T10:00:00Z,r3"))
    assert data.header_error is None and data.problems == []
    assert [(r.facet, r.score10, r.version, r.line) for r in data.ratings] == [
        ("global", 10.0, "1.0", 2), ("support", 0.0, "1.0", 3), ("ergonomie", 7.5, "", 4)]


@pytest.mark.parametrize(("score", "scale", "expected"), [(1, "5", 0.0), (3, "5", 5.0), (5, "5", 10.0),
                                                          (0, "10", 0.0), (10, "10", 10.0), (4.5, "5", 8.75)])
def test_normalisation_is_linear_onto_0_10(score, scale, expected):
    assert normalise_score(score, scale) == expected


@pytest.mark.parametrize(("label", "key"), [("Fiabilité", "fiabilite"), ("gain de temps", "gain_de_temps"),
                                            ("Interopérabilité", "interoperabilite"), ("Note globale", "global"),
                                            ("Conditions contractuelles / portabilité", "conditions_portabilite"),
                                            ("SUPPORT", "support"), ("rapidité", None)])
def test_facet_labels_as_the_portal_spells_them(label, key):
    assert facet_key(label) == key


def test_every_required_facet_exists():
    assert set(FACETS) >= {"global", "ergonomie", "fiabilite", "gain_de_temps", "interoperabilite", "support",
                           "conditions_portabilite"}


def test_missing_columns_make_the_file_unusable_with_line_1():
    data = parse_ratings(b"product,facet,note,date\nCab,global,4,2026-01-01\n")
    assert data.ratings == []
    assert data.header_error.startswith("line 1: missing column(s) score, reviewer")


def test_unknown_extra_column_is_noted_and_rows_still_imported():
    data = parse_ratings(csv_bytes("Cab,1.0,global,4,5,2026-01-01,r1,nice", header=HEADER.strip() + ",comment\n"))
    assert len(data.ratings) == 1
    assert [(p.line, p.rejected) for p in data.problems] == [(1, False)]
    assert "unknown column(s) 'comment' ignored" in data.problems[0].message


def test_bad_rows_get_line_numbers_and_valid_rows_are_kept():
    data = parse_ratings(csv_bytes(
        "Cab,1.0,global,4,5,2026-01-01,r1",        # 2 ok
        "Cab,1.0,global,9,5,2026-01-01,r2",        # 3 out of range
        "Cab,1.0,global,-1,10,2026-01-01,r3",      # 4 out of range on 0-10
        "Cab,1.0,rapidite,4,5,2026-01-01,r4",      # 5 unknown facet
        "Other,1.0,global,4,5,2026-01-01,r5",      # 6 unknown product
        "Cab,1.0,global,abc,5,2026-01-01,r6",      # 7 not a number
        "Cab,1.0,global,4,7,2026-01-01,r7",        # 8 unknown scale
        "Cab,1.0,global,4,5,yesterday,r8",         # 9 bad date
        "Cab,1.0,global,4,5,2026-01-01,",          # 10 no reviewer
        "Cab,1.0,global,4,5",                      # 11 wrong field count
        "",                                        # 12 blank: ignored
        "Cab,1.0,support,4,5,01/02/2026,r9",       # 13 ok, French date
    ), known_products=["Cab"])
    assert [r.line for r in data.ratings] == [2, 13]
    problems = {p.line: p.message for p in data.problems}
    assert problems[3] == "score 9 outside 1..5 (scale 5)"
    assert problems[4] == "score -1 outside 0..10 (scale 10)"
    assert problems[5].startswith("unknown facet 'rapidite'")
    assert problems[6] == "unknown product 'Other' (known: Cab)"
    assert problems[7] == "score 'abc' is not a number"
    assert problems[8].startswith("unknown scale '7'")
    assert problems[9].startswith("date 'yesterday' is not")
    assert problems[10] == "empty reviewer id"
    assert problems[11] == "expected 7 fields (product, version, facet, score, scale, date, reviewer), found 5"
    assert all(p.rejected for p in data.problems)
    assert data.rows == 11 and data.rejected == 9
    assert str(data.problems[0]) == "line 3: score 9 outside 1..5 (scale 5)"


def test_without_known_products_every_product_is_accepted():
    data = parse_ratings(csv_bytes("A,1,global,4,5,2026-01-01,r1", "B,1,global,4,5,2026-01-01,r1"))
    assert data.products() == ["A", "B"]


def test_mixed_encodings_each_cp1252_line_is_noted_and_imported():
    raw = csv_bytes("Cab,1.0,global,4,5,2026-01-01,r1") + "Cab,1.0,Fiabilité,2,5,2026-01-02,r2\n".encode("cp1252")
    raw += "Cab,1.0,Interopérabilité,3,5,2026-01-03,r3\n".encode("utf-8")
    data = parse_ratings(raw)
    assert [(r.line, r.facet) for r in data.ratings] == [(2, "global"), (3, "fiabilite"), (4, "interoperabilite")]
    assert [(p.line, p.code, p.rejected) for p in data.problems] == [(3, "encoding", False)]
    assert "not UTF-8; read as Windows-1252" in data.problems[0].message
    assert "Fiabilité" in data.problems[0].message


def test_utf8_bom_semicolons_and_decimal_commas():
    raw = "\ufeffproduct;facet;score;scale;date;reviewer\nCab;global;3,5;5;2026-01-01;r1\n".encode("utf-8")
    data = parse_ratings(raw)
    assert data.header_error is None
    assert data.ratings[0].score10 == 6.25


def test_utf16_with_bom():
    data = parse_ratings(csv_bytes("Cab,1.0,global,4,5,2026-01-01,r1").decode().encode("utf-16"))
    assert len(data.ratings) == 1 and data.problems == []


def test_default_scale_for_rows_without_a_scale_column():
    raw = b"product,facet,score,date,reviewer\nCab,global,8,2026-01-01,r1\n"
    assert parse_ratings(raw, default_scale="10").ratings[0].score10 == 8.0
    assert parse_ratings(raw).problems[0].message == "score 8 outside 1..5 (scale 5)"


def test_json_array_with_line_numbers():
    text = json.dumps([
        {"product": "Cab", "facet": "global", "score": 4, "date": "2026-01-01", "reviewer": "r1"},
        {"product": "Cab", "facet": "global", "score": 40, "date": "2026-01-01", "reviewer": "r2"},
        "not an object",
        {"product": "Cab", "facet": "support", "score": 9, "scale": 10, "date": "2026-01-01", "reviewer": "r3",
         "version": "2.1"},
    ], indent=2)
    data = parse_ratings(text.encode(), name="export.json")
    assert [(r.facet, r.score10, r.version) for r in data.ratings] == [("global", 7.5, ""), ("support", 9.0, "2.1")]
    lines = text.splitlines()
    bad = {p.line: p.message for p in data.problems}
    score_line = next(i for i, line in enumerate(lines, start=1) if '"score": 40' in line)
    string_line = next(i for i, line in enumerate(lines, start=1) if '"not an object"' in line)
    assert lines[score_line - 4].strip() == "{"  # the element holding the bad score starts 3 lines above
    assert bad == {score_line - 3: "score 40 outside 1..5 (scale 5)",
                   string_line: "expected an object, found str"}


def test_json_object_with_ratings_key_and_broken_json():
    text = '{"exported": "2026-02-01",\n "ratings": [\n  {"product": "Cab", "facet": "global", "score": 2,' \
           ' "date": "2026-01-01", "reviewer": "r1"}\n ]}'
    data = parse_ratings(text.encode(), name="x.json")
    assert [r.line for r in data.ratings] == [3]
    broken = parse_ratings(b'[{"product": "Cab",', name="x.json")
    assert broken.header_error.startswith("not valid JSON")
    assert parse_ratings(b'{"a": 1}', name="x.json").header_error.startswith("JSON must be an array")


def test_json_lines():
    raw = (b'{"product": "Cab", "facet": "global", "score": 4, "date": "2026-01-01", "reviewer": "r1"}\n'
           b'{"product": "Cab", "facet": "global", "score": true, "date": "2026-01-01", "reviewer": "r2"}\n'
           b'{oops\n')
    data = parse_ratings(raw, name="export.jsonl")
    assert len(data.ratings) == 1
    assert [(p.line, p.message.split(":")[0]) for p in data.problems] == [(2, "score True is not a number"),
                                                                          (3, "not valid JSON")]


def test_read_ratings_from_disk(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_bytes(csv_bytes("Cab,1.0,global,4,5,2026-01-01,r1"))
    data = read_ratings(path, known_products=["Cab"])
    assert data.path == path and len(data.ratings) == 1


def test_problem_list_is_bounded_but_counted():
    rows = [f"Cab,1.0,global,99,5,2026-01-01,r{i}" for i in range(1500)]
    data = parse_ratings(csv_bytes(*rows))
    assert len(data.problems) == 1000 and data.more_problems == 500 and data.rejected == 1500
