"""The parse driver: detection, decoding, manifests, folders, and bad input reported by name."""

import json
import shutil
from pathlib import Path

import pytest

from indexer.detect import detect_format
from indexer.errors import BinaryInputError, EmptyPageError, MissingTitleError, PageTooLargeError, ParseError
from indexer.page import Format
from indexer.parse import parse, parse_all, parse_sources
from indexer.reading import decode_bytes

SEEDS = Path(__file__).resolve().parents[1] / "data" / "sample" / "seeds"
SAMPLE = SEEDS.parent


@pytest.mark.parametrize(
    "path,fmt",
    [
        (SEEDS / "000_7b236ed267aafff7.txt", Format.PMWIKI),
        (SEEDS / "001_d5d032353f865b22.txt", Format.PLAINTEXT),
        (SEEDS / "002_757896695408fafc.txt", Format.MARKDOWN),
        (SAMPLE / "html" / "CatsHateWater.html", Format.HTML),
        (SAMPLE / "tropes.jsonl", Format.JSONL),
    ],
)
def test_detects_every_sample_format_from_content(path, fmt):
    text = decode_bytes(path.read_bytes())
    assert detect_format(text) is fmt


def test_parse_accepts_text_and_paths():
    text = (SEEDS / "000_7b236ed267aafff7.txt").read_text(encoding="utf-8")
    from_text = parse(text)
    from_path = parse(SEEDS / "000_7b236ed267aafff7.txt")
    assert from_text.trope_id == from_path.trope_id == "InterspeciesRomance"
    assert from_text.description == from_path.description
    lines = (SAMPLE / "tropes.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(parse_all(SAMPLE / "tropes.jsonl")) == sum(1 for line in lines if line.strip())


def test_format_override_and_unknown_format():
    page = parse("A plain paragraph about a trope.", format="plaintext")
    assert page.format is Format.PLAINTEXT
    with pytest.raises(ParseError, match="unknown format"):
        parse("text", format="docx")


def test_folder_with_manifest_names_every_seed(tmp_path):
    shutil.copytree(SEEDS, tmp_path / "seeds")
    report = parse_sources([tmp_path / "seeds"])
    assert not report.skipped
    assert sorted(p.trope_id for p in report.pages) == ["BoldlyComing", "InterspeciesRomance", "InterspeciesRomance"]
    assert {p.title for p in report.pages} == {"Boldly Coming", "Interspecies Romance"}


def test_page_without_title_is_reported_not_guessed(tmp_path):
    shutil.copy(SEEDS / "002_757896695408fafc.txt", tmp_path / "002.txt")  # no manifest here
    report = parse_sources([tmp_path])
    assert not report.pages
    assert len(report.skipped) == 1 and isinstance(report.skipped[0], MissingTitleError)
    assert "002.txt" in str(report.skipped[0]) and "manifest.json" in str(report.skipped[0])


def test_explicit_manifest_applies(tmp_path):
    shutil.copy(SEEDS / "002_757896695408fafc.txt", tmp_path / "002_757896695408fafc.txt")
    report = parse_sources([tmp_path], manifest=SEEDS / "manifest.json")
    assert [p.trope_id for p in report.pages] == ["BoldlyComing"]


def test_bad_files_are_reported_by_name_and_the_rest_parses(tmp_path):
    shutil.copy(SEEDS / "000_7b236ed267aafff7.txt", tmp_path / "good.txt")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10)
    (tmp_path / "latin.txt").write_bytes("Caf\xe9 na\xefve r\xe9sum\xe9 \xe0 la carte. ".encode("latin-1") * 200)
    (tmp_path / "truncated.html").write_text("<html><head><title>X - TV Tropes</title></head><body><div id=\"main-art")
    (tmp_path / "big.txt").write_bytes(b"word " * (3 * 1024 * 1024 // 5))
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4")
    report = parse_sources([tmp_path], max_bytes=2 * 1024 * 1024)
    assert [p.trope_id for p in report.pages] == ["InterspeciesRomance"]
    named = {Path(e.source.split(":")[0]).name: e for e in report.skipped}
    assert {"empty.txt", "binary.txt", "latin.txt", "truncated.html", "big.txt"} <= set(named)
    assert isinstance(named["empty.txt"], EmptyPageError)
    assert isinstance(named["binary.txt"], BinaryInputError)
    assert isinstance(named["big.txt"], PageTooLargeError)
    assert any(p.endswith("notes.pdf") for p in report.ignored)


def test_stray_legacy_bytes_are_decoded_not_rejected():
    data = "The caf\u00e9 scene \u2014 a classic.".encode("utf-8") + b" Na\xefve hero.\n"
    text = decode_bytes(data)
    assert "caf\u00e9" in text and "Na\u00efve" in text


def test_jsonl_bad_line_is_skipped_with_its_line_number(tmp_path):
    lines = (SAMPLE / "tropes.jsonl").read_text(encoding="utf-8").splitlines()
    lines.insert(2, '{"trope_id": "Broken", "description": ')
    (tmp_path / "t.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = parse_sources([tmp_path / "t.jsonl"])
    assert len(report.pages) == len(lines) - 1
    assert len(report.skipped) == 1 and report.skipped[0].line == 3 or ":3" in str(report.skipped[0])


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(ParseError, match="no such file"):
        parse_sources([tmp_path / "nope"])


def test_bad_manifest_is_reported(tmp_path):
    shutil.copy(SEEDS / "002_757896695408fafc.txt", tmp_path / "002_757896695408fafc.txt")
    (tmp_path / "manifest.json").write_text("{not json", encoding="utf-8")
    report = parse_sources([tmp_path])
    assert any("manifest" in str(e) for e in report.skipped)
    (tmp_path / "manifest.json").write_text(json.dumps({"002_757896695408fafc.txt": {"title": "Boldly Coming"}}))
    report = parse_sources([tmp_path])
    assert [p.trope_id for p in report.pages] == ["BoldlyComing"]
