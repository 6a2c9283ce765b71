#!/bin/sh
# Extracts the C block under "## Fifteen lines" in README.md into $2, and
# fails if that block has grown past fifteen lines: the README promises it.
set -eu
awk '
    /^## / { in_section = ($0 == "## Fifteen lines") }
    in_section && /^```c$/ && !done { in_block = 1; next }
    in_block && /^```$/ { in_block = 0; done = 1; next }
    in_block { print; n++ }
    END {
        if (n == 0) { print "no C block under \"## Fifteen lines\"" > "/dev/stderr"; exit 1 }
        if (n > 15) { print "the README example has " n " lines, not fifteen" > "/dev/stderr"; exit 1 }
    }
' "$1" > "$2"
