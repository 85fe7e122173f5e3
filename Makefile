# Dataset targets of the original system, delegating to `avemotion data` (see avemotion/data/).
#
#   make laughter_data           directories + every corpus processor + laughter_v1.csv + emotion_v1.csv
#   make <corpus>                one corpus: audioset ami tedlium mustard liris_accede cremad emodb laughter_folder
#   make unified_manifest        datasets/manifests/laughter_v1.csv from the per-corpus laughter manifests
#   make emotion_manifest        datasets/manifests/emotion_v1.csv from the per-corpus emotion manifests
#   make real_manifests          the real training manifests from ../shared/data/real (EmoDB + acted laughter)
#   make corpora                 list the registered corpora, what their folder holds, what they write
#   make fetch_audioset          download/cut the AudioSet segments of the AudioSet manifest (yt-dlp)
#   make test                    the test suite (python -m pytest)
#
# The corpora and their targets come from the registry (python/avemotion/data/registry.py): the rules
# are generated into datasets/.corpora.mk, remade whenever the registry changes. Adding a corpus = a
# module + a registry entry; nothing here changes.
#
# Corpus folders (override on the command line: make ami AMI_DIR=/data/amicorpus): each is
# $(DATA_ROOT)/<corpus> by default: AUDIOSET_DIR AMI_DIR TEDLIUM_DIR MUSTARD_DIR LIRIS_DIR CREMAD_DIR
# EMODB_DIR, and LAUGHTER_DIR ($(DATA_ROOT)/laughter) for laughter_folder. Also:
#   DATA_ROOT datasets/raw, MANIFEST_DIR datasets/manifests, REAL_DATA ../shared/data/real,
#   SEED 0, PROPORTIONS 0.8,0.1,0.1, TEDLIUM_MARKERS "(laughter)" "[laughter]" "<laughter>" (each quoted)
# A missing corpus folder is skipped with a message. Exit status 3 from a processor (manifest
# written, some input items skipped and listed) does not stop make.

PYTHON       ?= python
AVEMOTION    ?= $(PYTHON) -m avemotion
DATA_ROOT    ?= datasets/raw
MANIFEST_DIR ?= datasets/manifests
REAL_DATA    ?= ../shared/data/real
SEED         ?= 0
PROPORTIONS  ?= 0.8,0.1,0.1

SPLIT_ARGS = --seed $(SEED) --proportions $(PROPORTIONS)
# Accept 0 (ok) and 3 (partial: some inputs skipped, listed on stderr); fail on anything else.
OK_OR_PARTIAL = || [ $$? -eq 3 ]

.DEFAULT_GOAL := laughter_data
REGISTRY     := python/avemotion/data/registry.py
CORPORA_MK   := datasets/.corpora.mk

# The registry's rules: CORPORA, LAUGHTER_MANIFESTS, EMOTION_MANIFESTS, *_DIR and one target per corpus.
$(CORPORA_MK): $(REGISTRY)
	$(PYTHON) $(REGISTRY) makefile > $@.tmp && mv $@.tmp $@
include $(CORPORA_MK)

.PHONY: laughter_data dirs unified_manifest emotion_manifest real_manifests corpora fetch_audioset test

laughter_data: dirs $(CORPORA)
	$(MAKE) --no-print-directory unified_manifest emotion_manifest

dirs:
	mkdir -p $(DATA_ROOT) $(MANIFEST_DIR) $(AUDIOSET_DIR)/clips

unified_manifest:
	$(AVEMOTION) data unify --kind laughter --inputs $(LAUGHTER_MANIFESTS) --out $(MANIFEST_DIR)/laughter_v1.csv --skip-missing

emotion_manifest:
	$(AVEMOTION) data unify --kind emotion --inputs $(EMOTION_MANIFESTS) --out $(MANIFEST_DIR)/emotion_v1.csv --skip-missing

# The real training data of the default model (see datasets/manifests/README.md):
#   emodb.csv (emotion, 6 classes), emodb_no_laughter.csv, laughter_folder.csv and
#   laughter_real.csv = the acted laughs + every EmoDB utterance as a negative. Media paths are absolute.
real_manifests: dirs
	@test -d $(REAL_DATA)/emodb -a -d $(REAL_DATA)/laughter || \
	  { echo "real_manifests: $(REAL_DATA)/emodb or $(REAL_DATA)/laughter not found (set REAL_DATA=...)" >&2; exit 2; }
	$(MAKE) --no-print-directory emodb laughter_folder EMODB_DIR=$(abspath $(REAL_DATA))/emodb LAUGHTER_DIR=$(abspath $(REAL_DATA))/laughter
	$(AVEMOTION) data unify --kind laughter --inputs $(MANIFEST_DIR)/laughter_folder.csv $(MANIFEST_DIR)/emodb_no_laughter.csv --out $(MANIFEST_DIR)/laughter_real.csv

corpora:
	@$(PYTHON) $(REGISTRY) list

fetch_audioset:
	datasets/scripts/fetch_audioset_laughter.sh $(MANIFEST_DIR)/audioset.csv $(AUDIOSET_DIR)/clips

test:
	$(PYTHON) -m pytest
