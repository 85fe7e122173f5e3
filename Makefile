# Dataset targets of the original system, delegating to `avemotion data` (see avemotion/data/).
#
#   make laughter_data           directories + every laughter processor + unified manifest + emotion manifest
#   make audioset | ami | tedlium | mustard | liris_accede | cremad
#   make unified_manifest        datasets/manifests/laughter_v1.csv from the per-corpus manifests
#   make fetch_audioset          download/cut the AudioSet segments of the AudioSet manifest (yt-dlp)
#   make test                    the test suite (python -m pytest)
#
# Corpus folders (override on the command line: make ami AMI_DIR=/data/amicorpus):
#   DATA_ROOT     datasets/raw
#   AUDIOSET_DIR  $(DATA_ROOT)/audioset      ontology.json, *_segments.csv, Gillick clean_*_annotations.csv
#   AMI_DIR       $(DATA_ROOT)/ami           words/*.words.xml (+ {meeting}/audio/*.Headset-N.wav)
#   TEDLIUM_DIR   $(DATA_ROOT)/tedlium       */stm/*.stm (+ */sph/*.sph)
#   MUSTARD_DIR   $(DATA_ROOT)/mustard       sarcasm_data.json (+ videos/utterances_final/*.mp4)
#   LIRIS_DIR     $(DATA_ROOT)/liris_accede  ACCEDEranking.txt, ACCEDEsets.txt, ACCEDEdescription.xml (or the zips)
#   CREMAD_DIR    $(DATA_ROOT)/cremad        AudioWAV/*.wav, VideoDemographics.csv
#   MANIFEST_DIR  datasets/manifests
#   SEED 0, PROPORTIONS 0.8,0.1,0.1, TEDLIUM_MARKERS "(laughter)" "[laughter]" "<laughter>" (each quoted)
# A missing corpus folder is skipped with a message. Exit status 3 from a processor (manifest
# written, some input items skipped and listed) does not stop make.

PYTHON       ?= python
AVEMOTION    ?= $(PYTHON) -m avemotion
DATA_ROOT    ?= datasets/raw
AUDIOSET_DIR ?= $(DATA_ROOT)/audioset
AMI_DIR      ?= $(DATA_ROOT)/ami
TEDLIUM_DIR  ?= $(DATA_ROOT)/tedlium
MUSTARD_DIR  ?= $(DATA_ROOT)/mustard
LIRIS_DIR    ?= $(DATA_ROOT)/liris_accede
CREMAD_DIR   ?= $(DATA_ROOT)/cremad
MANIFEST_DIR ?= datasets/manifests
SEED         ?= 0
PROPORTIONS  ?= 0.8,0.1,0.1
TEDLIUM_MARKERS ?= "(laughter)" "[laughter]" "<laughter>"

SPLIT_ARGS = --seed $(SEED) --proportions $(PROPORTIONS)
# Accept 0 (ok) and 3 (partial: some inputs skipped, listed on stderr); fail on anything else.
OK_OR_PARTIAL = || [ $$? -eq 3 ]
LAUGHTER_MANIFESTS = $(foreach c,audioset ami tedlium mustard liris_accede,$(MANIFEST_DIR)/$(c).csv)

.PHONY: laughter_data dirs audioset ami tedlium mustard liris_accede cremad unified_manifest fetch_audioset test

laughter_data: dirs audioset ami tedlium mustard liris_accede cremad unified_manifest

dirs:
	mkdir -p $(DATA_ROOT) $(MANIFEST_DIR) $(AUDIOSET_DIR)/clips

audioset: dirs
	$(AVEMOTION) data audioset --root $(AUDIOSET_DIR) --out $(MANIFEST_DIR)/audioset.csv --skip-missing $(SPLIT_ARGS) $(OK_OR_PARTIAL)

ami: dirs
	$(AVEMOTION) data ami --root $(AMI_DIR) --out $(MANIFEST_DIR)/ami.csv --skip-missing $(SPLIT_ARGS) $(OK_OR_PARTIAL)

tedlium: dirs
	$(AVEMOTION) data tedlium --root $(TEDLIUM_DIR) --out $(MANIFEST_DIR)/tedlium.csv --skip-missing $(SPLIT_ARGS) --markers $(TEDLIUM_MARKERS) $(OK_OR_PARTIAL)

mustard: dirs
	$(AVEMOTION) data mustard --root $(MUSTARD_DIR) --out $(MANIFEST_DIR)/mustard.csv --skip-missing $(SPLIT_ARGS) $(OK_OR_PARTIAL)

liris_accede: dirs
	$(PYTHON) datasets/scripts/ingest_liris_accede.py --root $(LIRIS_DIR) --out $(MANIFEST_DIR)/liris_accede.csv --seed $(SEED) $(OK_OR_PARTIAL)

cremad: dirs
	$(AVEMOTION) data cremad --root $(CREMAD_DIR) --out $(MANIFEST_DIR)/emotion_v1.csv --skip-missing $(SPLIT_ARGS) $(OK_OR_PARTIAL)

unified_manifest:
	$(AVEMOTION) data unify --inputs $(LAUGHTER_MANIFESTS) --out $(MANIFEST_DIR)/laughter_v1.csv --skip-missing

fetch_audioset:
	datasets/scripts/fetch_audioset_laughter.sh $(MANIFEST_DIR)/audioset.csv $(AUDIOSET_DIR)/clips

test:
	$(PYTHON) -m pytest
