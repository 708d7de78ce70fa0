#!/usr/bin/env bash
# Prints the interpreter for the project's virtualenv: Python 3.12 (Lambda's) where pyenv or
# the system has it, else python3 if it is at least 3.11.
set -euo pipefail
if command -v pyenv >/dev/null 2>&1; then
  v=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.[0-9]+)?$' | sort -V | tail -n 1 || true)
  if [ -n "$v" ]; then
    echo "$(pyenv root)/versions/$v/bin/python3.12"
    exit 0
  fi
fi
for candidate in python3.12 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    command -v "$candidate"
    exit 0
  fi
done
echo "flightdeck needs Python 3.11 or newer (3.12 preferred)" >&2
exit 1
