#!/bin/bash
# make check: the reduced model check of the evacuation protocol (verify/,
# issue 7): real protocol exhaustive on the two-user chain configuration and
# the liveness configuration, every barrier-less variant must produce a
# counterexample, every kept trail must still replay. ~1 min CPU.
# `make verify` runs the larger configurations.
set -u
if ! command -v spin >/dev/null 2>&1; then
	echo "summary: model: spin not installed (ci/deps.d/model.txt lists it)"
	exit 1
fi
exec bash verify/run.sh --quick
