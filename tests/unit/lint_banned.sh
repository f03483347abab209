#!/bin/sh
# Checks that core/banned.h holds everywhere: every .c file under the given
# directories includes it as its last #include (after the system headers,
# whose declarations its macros would rewrite), and no .c or .h file calls
# a function it bans, which catches a call even where the include is
# missing or misplaced.
status=0
[ $# -gt 0 ] || set -- src
for dir in "$@"; do
	for f in $(find "$dir" -name '*.c' | sort); do
		last=$(grep -E '^#[[:space:]]*include' "$f" | tail -n 1)
		case "$last" in
		*'"core/banned.h"'*) ;;
		*)
			echo "$f: the last #include is not \"core/banned.h\""
			status=1
			;;
		esac
	done
	hits=$(grep -rnE '(^|[^_a-zA-Z0-9.>])(strcpy|strcat|strncpy|sprintf|vsprintf|strtok|gmtime|localtime|ctime|asctime)[[:space:]]*\(' \
		--include='*.c' --include='*.h' "$dir" | grep -v 'core/banned.h' | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|/\*|//)')
	if [ -n "$hits" ]; then
		echo "banned functions used:"
		echo "$hits"
		status=1
	fi
done
[ $status -eq 0 ] && echo "lint_banned: ok"
exit $status
