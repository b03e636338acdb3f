# mk/verify.mk - Promela/spin model of the evacuation protocol (verify/, issue 7).
#   make verify         installs spin if missing, runs every model check
#                       (real protocol must pass, each barrier-less variant
#                       must fail); results in build/verify/results.tsv
#   make verify-quick   the reduced form that make check runs
#   make verify-trails  re-run and overwrite the kept trails in verify/trails/
.PHONY: verify verify-quick verify-trails verify-deps

verify-deps:
	@command -v spin >/dev/null 2>&1 || apt-get install -y spin
	@command -v gcc >/dev/null 2>&1 || apt-get install -y gcc

verify: verify-deps
	bash verify/run.sh

verify-quick: verify-deps
	bash verify/run.sh --quick

verify-trails: verify-deps
	bash verify/run.sh --update-trails
