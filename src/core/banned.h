/*
 * banned.h - functions we do not use, made into compile errors (after git's
 * banned.h). Every .c file includes it last, after the system headers: the
 * macros below would otherwise rewrite those headers' own declarations,
 * which is also why it is not force-included with -include (with
 * _FORTIFY_SOURCE, the default of Ubuntu's gcc at -O2, glibc's
 * string_fortified.h then no longer compiles).
 * tests/unit/lint_banned.sh checks that every file does, and greps for the
 * calls themselves in case a file's includes are ever reordered.
 * strcpy/strcat/sprintf: unbounded writes; strtok: hidden state;
 * gmtime/localtime/ctime/asctime: not thread-safe (window bucketing runs on
 * several threads: use gmtime_r or plain arithmetic).
 */
#ifndef IOT_BANNED_H
#define IOT_BANNED_H

#define BANNED(func) sorry_##func##_is_banned_in_iotpipe

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) BANNED(strncpy)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef gmtime
#define gmtime(t) BANNED(gmtime)
#undef localtime
#define localtime(t) BANNED(localtime)
#undef ctime
#define ctime(t) BANNED(ctime)
#undef asctime
#define asctime(t) BANNED(asctime)

#endif
