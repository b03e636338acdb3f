#!/bin/sh
# ci/deps.sh - install lfmap's build and test dependencies on Debian 12.
# Idempotent: checks with dpkg -s / command -v first, so a machine that has
# everything does no network access. Installing needs root (or sudo).
# libclang-rt-14-dev (sanitizer runtimes) is only a Recommends of clang-14,
# so it is listed explicitly.
# --check: only report what is missing (exit 1 if anything is).
set -eu

PKGS="liburcu-dev libcriterion-dev ninja-build clang valgrind pkg-config binutils
gnuplot-nox gcc make libc6-dev libclang-rt-14-dev"
# Feature areas list their extra Debian packages in ci/deps.d/*.txt (one or
# more names per line, '#' comments).
for f in "$(dirname "$0")"/deps.d/*.txt; do
	[ -f "$f" ] && PKGS="$PKGS $(sed 's/#.*//' "$f" | tr '\n' ' ')"
done
TOOLS="gcc clang ninja pkg-config make nm objdump readelf ar valgrind timeout"

missing=
for p in $PKGS; do
	# "install ok installed" only; rc/half-installed packages count as missing.
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$st" = "install ok installed" ] || missing="$missing $p"
done
for t in $TOOLS; do
	command -v "$t" >/dev/null 2>&1 || missing="$missing tool:$t"
done
for m in liburcu-memb criterion; do
	command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "$m" ||
		missing="$missing pc:$m"
done

if [ -z "$missing" ]; then
	echo "ci/deps.sh: all dependencies present"
	exit 0
fi
echo "ci/deps.sh: missing:$missing"
[ "${1:-}" = "--check" ] && exit 1

if ! command -v apt-get >/dev/null 2>&1; then
	echo "ci/deps.sh: no apt-get; install by hand:" $PKGS >&2
	exit 1
fi
SUDO=
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
		echo "ci/deps.sh: not root and no sudo; as root run: apt-get install -y" $PKGS >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
$SUDO apt-get update
# shellcheck disable=SC2086
$SUDO apt-get install -y $PKGS
echo "ci/deps.sh: done"
