"""The corpus registry: corpus name -> processor module, its command-line options, its manifests.

``avemotion data <corpus>`` (``avemotion.cli.data``) builds one sub-command per entry, and the
Makefile includes the make rules :func:`makefile` writes from it (``datasets/.corpora.mk``, remade
when this file changes), so neither lists corpora itself. **Adding a corpus** = one module
``avemotion/data/<name>.py`` with ``process(root, *, out, seed, proportions, **options) ->
ProcessResult`` (see ``avemotion.data._common``) + one :class:`Corpus` entry in :data:`CORPORA`.

This module imports nothing but the standard library at import time (processor modules are imported
only by :meth:`Corpus.load`), so ``python python/avemotion/data/registry.py makefile`` works from a
bare checkout, before the C++ core is built.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class Option:
    """One corpus-specific option: an argparse flag and the ``process()`` keyword it fills.

    ``kwargs`` go to ``ArgumentParser.add_argument`` (type, default, choices, nargs, action, ...).
    A value left at None is not passed, so ``process()``'s own default applies.
    """

    flag: str
    help: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    keyword: str = ""  # default: the flag without "--", "-" -> "_"

    @property
    def dest(self) -> str:
        return self.keyword or self.flag.lstrip("-").replace("-", "_")

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(self.flag, dest=self.dest, help=self.help, **dict(self.kwargs))


@dataclass(frozen=True)
class Output:
    """One manifest a corpus writes: file name (in the manifest folder), kind and extra CLI args."""

    manifest: str
    kind: str  # "laughter" or "emotion": which unified manifest it joins
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Corpus:
    """A registry entry (see the module docstring)."""

    name: str
    help: str
    layout: str  # what ``--root`` holds, one line (the Makefile's header and ``avemotion data list``)
    outputs: tuple[Output, ...]
    options: tuple[Option, ...] = ()
    dir_var: str = ""  # make variable of the corpus folder (default NAME_DIR)
    dir_name: str = ""  # folder name under $(DATA_ROOT) (default: the corpus name)
    make_args: str = ""  # extra arguments of every make recipe line (make syntax)
    make_vars: tuple[tuple[str, str], ...] = ()  # make variables (name, default) the recipe uses
    make_command: str = ""  # a whole recipe line instead of `avemotion data`: {root} {out} {args}
    convert: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # parsed options -> process() kwargs

    @property
    def module(self) -> str:
        return f"avemotion.data.{self.name}"

    @property
    def make_dir_var(self) -> str:
        return self.dir_var or f"{self.name.upper()}_DIR"

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)

    def process_kwargs(self, args: argparse.Namespace) -> dict[str, Any]:
        """The ``process()`` keywords of this corpus's options from parsed arguments."""
        kw = {o.dest: getattr(args, o.dest) for o in self.options if getattr(args, o.dest, None) is not None}
        return self.convert(kw) if self.convert is not None else kw


def _liris_rule(kw: dict[str, Any]) -> dict[str, Any]:
    from avemotion.data.liris_accede import ProxyRule

    names = ("valence_min", "arousal_min", "negative_valence_max")
    rule = ProxyRule(**{n: kw.pop(n) for n in names if n in kw})
    return {**kw, "rule": rule}


_NEGATIVES = Option("--negatives-per-positive", "negatives kept per positive (default 1)", {"type": float})
_ASSUME = Option("--assume-duration", "seconds to use when a clip's media is absent (marked in source_detail)",
                 {"type": float})

#: Every corpus, in the order ``make laughter_data`` runs them.
CORPORA: tuple[Corpus, ...] = (
    Corpus(
        "audioset", "AudioSet laughter (weak segment labels, Gillick strong labels)",
        "ontology.json, *_segments.csv, Gillick clean_*_annotations.csv (+ clips/)",
        (Output("audioset.csv", "laughter"),),
        (
            _NEGATIVES,
            Option("--segments", "segment CSVs (default: those in --root)", {"nargs": "*", "type": Path}),
            Option("--ontology", "ontology.json (default: --root/ontology.json)", {"type": Path}),
            Option("--strong", "Gillick clean_laughter_annotations.csv", {"type": Path}),
            Option("--distractors", "Gillick clean_distractor_annotations.csv", {"type": Path}),
        ),
    ),
    Corpus(
        "ami", "AMI meetings: <vocalsound type=laugh> events and speech without laughter",
        "words/*.words.xml, corpusResources/meetings.xml (+ {meeting}/audio/*.Headset-N.wav)",
        (Output("ami.csv", "laughter"),),
        (
            _NEGATIVES,
            Option("--media-root", "folder of {meeting}/audio/*.wav (default --root)", {"type": Path}),
            Option("--point-laugh-s", "extent (s) given to a laugh with starttime == endtime, centred "
                   "on the point (default 1.0)", {"type": float}),
            Option("--group-by", "group key: the meeting series (same participants, default) or the meeting",
                   {"choices": ("series", "meeting")}),
        ),
    ),
    Corpus(
        "tedlium", "TED-LIUM talks: laughter markers in the STM transcripts",
        "*/stm/*.stm (+ */sph/*.sph); release 3: data/ legacy/ speaker-adaptation/",
        (Output("tedlium.csv", "laughter"),),
        (
            _NEGATIVES,
            Option("--markers", "laughter marker strings (case-insensitive)", {"nargs": "+"}),
            Option("--distribution", "TED-LIUM 3: which distribution to read (default data)",
                   {"choices": ("data", "legacy", "speaker-adaptation")}),
        ),
        make_args="--markers $(TEDLIUM_MARKERS)",
        make_vars=(("TEDLIUM_MARKERS", '"(laughter)" "[laughter]" "<laughter>"'),),
    ),
    Corpus(
        "mustard", "MUStARD sarcasm (a humor proxy)",
        "the repository, its data/, or a folder with sarcasm_data.json (+ videos/utterances_final/*.mp4)",
        (Output("mustard.csv", "laughter"),),
        (_ASSUME, Option("--group-by", "group key (default show)", {"choices": ("show", "speaker")})),
    ),
    Corpus(
        "liris_accede", "LIRIS-ACCEDE valence/arousal (a humor proxy by rule)",
        "ACCEDEranking.txt, ACCEDEsets.txt, ACCEDEdescription.xml (or the zips)",
        (Output("liris_accede.csv", "laughter"),),
        (
            Option("--official-sets", "use ACCEDEsets.txt splits", {"action": "store_true", "default": None}),
            Option("--valence-min", "laughter when valence >= this and arousal >= --arousal-min (3.0)",
                   {"type": float}),
            Option("--arousal-min", "(2.5)", {"type": float}),
            Option("--negative-valence-max", "no_laughter when valence <= this (2.5)", {"type": float}),
            Option("--fps", "frame rate for durations from the description (25)", {"type": float}),
        ),
        dir_var="LIRIS_DIR",
        make_command="$(PYTHON) datasets/scripts/ingest_liris_accede.py --root {root} --out {out} $(SPLIT_ARGS)",
        convert=_liris_rule,
    ),
    Corpus(
        "cremad", "CREMA-D acted emotions (file names, demographics)",
        "AudioWAV/*.wav, VideoDemographics.csv",
        (Output("cremad.csv", "emotion"),),
        (_ASSUME, Option("--names-file", "list of clip names, one a line, instead of AudioWAV/", {"type": Path})),
    ),
    Corpus(
        "emodb", "EmoDB acted German emotional speech (boredom left out); --laughter-negatives: no_laughter rows",
        "wav/SSTTTEV.wav (+ erkennung.txt)",
        (Output("emodb.csv", "emotion"), Output("emodb_no_laughter.csv", "laughter", ("--laughter-negatives",))),
        (
            Option("--laughter-negatives", "write every utterance as a no_laughter row (a laughter manifest)",
                   {"action": "store_true", "default": None}),
            Option("--boredom-as", "opt in: map boredom (L) to this emotion label (one of the six, e.g. "
                   "neutral) instead of leaving it out"),
        ),
    ),
    Corpus(
        "laughter_folder", "a folder of recordings, each one laughter clip (or --label no_laughter)",
        "audio files (.wav .flac .mp3 ...), any subfolders",
        (Output("laughter_folder.csv", "laughter"),),
        (
            Option("--label", "laughter label of every file: laughter (default) or no_laughter"),
            Option("--corpus-name", "corpus/clip-id prefix of the rows (default laughter_folder)", {},
                   keyword="corpus"),
        ),
        dir_var="LAUGHTER_DIR", dir_name="laughter",
    ),
)

BY_NAME: dict[str, Corpus] = {c.name: c for c in CORPORA}


def get(name: str) -> Corpus:
    """The entry of ``name``; KeyError listing the known corpora otherwise."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown corpus {name!r}; known: {', '.join(BY_NAME)}") from None


def manifests(kind: str) -> list[str]:
    """File names of every registered manifest of ``kind`` (the inputs of the unified manifest)."""
    return [o.manifest for c in CORPORA for o in c.outputs if o.kind == kind]


# ----------------------------------------------------------------------------- make rules


def makefile() -> str:
    """Make rules for every corpus: folder variables, one phony target per corpus that runs its
    outputs (a missing folder is skipped, exit 3 'partial' does not stop make), and the lists
    ``CORPORA``, ``LAUGHTER_MANIFESTS``, ``EMOTION_MANIFESTS`` the Makefile's other targets use."""
    out = ["# Generated from python/avemotion/data/registry.py by `registry.py makefile`; do not edit.", ""]
    for c in CORPORA:
        out.append(f"{c.make_dir_var} ?= $(DATA_ROOT)/{c.dir_name or c.name}")
        out.extend(f"{k} ?= {v}" for k, v in c.make_vars)
    out.append("")
    out.append("CORPORA := " + " ".join(c.name for c in CORPORA))
    for kind in ("laughter", "emotion"):
        out.append(f"{kind.upper()}_MANIFESTS := " + " ".join(f"$(MANIFEST_DIR)/{m}" for m in manifests(kind)))
    out.append(".PHONY: $(CORPORA)")
    out.append("")
    for c in CORPORA:
        out.append(f"{c.name}: dirs")
        root = f"$({c.make_dir_var})"
        for o in c.outputs:
            dest = f"$(MANIFEST_DIR)/{o.manifest}"
            extra = " ".join(x for x in (" ".join(o.args), c.make_args) if x)
            if c.make_command:
                line = c.make_command.format(root=root, out=dest, args=extra)
            else:
                line = (f"$(AVEMOTION) data {c.name} --root {root} --out {dest} --skip-missing $(SPLIT_ARGS)"
                        + (f" {extra}" if extra else ""))
            out.append(f"\t{line} $(OK_OR_PARTIAL)")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="registry.py", description="the avemotion corpus registry")
    p.add_argument("what", choices=("makefile", "names", "list"),
                   help="makefile: the make rules; names: corpus names; list: name, layout, manifests")
    args = p.parse_args(argv)
    if args.what == "makefile":
        sys.stdout.write(makefile())
    elif args.what == "names":
        print(" ".join(BY_NAME))
    else:
        for c in CORPORA:
            print(f"{c.name:16} {', '.join(o.manifest for o in c.outputs):36} {c.layout}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
