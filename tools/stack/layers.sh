#!/bin/sh
# layers.sh: lib/'s one-way rule. A file in lib/<folder>/ includes only its own
# folder and folders of a lower floor, always by folder ("core/buf.h"); lib/
# never includes a binary's header.
#   floor 0: core   floor 1: net db   floor 2: auth agent backend storage
#   floor 3: sandbox
# Prints each offending include; exit 1 if any.
cd "$(dirname "$0")/../.." || exit 2
floor() {
	case $1 in
	core) echo 0 ;; net | db) echo 1 ;; auth | agent | backend | storage) echo 2 ;;
	sandbox) echo 3 ;; *) echo 99 ;;
	esac
}
rc=0
for f in $(git ls-files 'lib/*.c' 'lib/*.h'); do
	dir=${f#lib/}
	dir=${dir%%/*}
	case $dir in *.c | *.h)
		echo "$f: lib/ files live in a layer folder"
		rc=1
		continue ;;
	esac
	mine=$(floor "$dir")
	[ "$mine" = 99 ] && { echo "$f: folder '$dir' has no floor in layers.sh"; rc=1; }
	for inc in $(sed -n 's/^#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
		to=${inc%%/*}
		if [ "$to" = "$inc" ]; then
			echo "$f: includes \"$inc\" without its folder"
			rc=1
		elif [ "$to" != "$dir" ] && [ "$(floor "$to")" -ge "$mine" ]; then
			echo "$f: $dir (floor $mine) includes $inc (floor $(floor "$to"))"
			rc=1
		fi
	done
done
exit $rc
