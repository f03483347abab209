#!/bin/sh
# Fails when a source file calls a function that core/banned.h bans, so the
# ban holds even in files that forget to include banned.h.
dir=${1:-src}
hits=$(grep -rnE '(^|[^_a-zA-Z0-9.>])(strcpy|strcat|strncpy|sprintf|vsprintf|strtok|gmtime|localtime|ctime|asctime)[[:space:]]*\(' \
	--include='*.c' --include='*.h' "$dir" | grep -v 'core/banned.h' | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|/\*|//)')
if [ -n "$hits" ]; then
	echo "banned functions used:"
	echo "$hits"
	exit 1
fi
echo "lint_banned: ok"
