/*
 * nocrypt.h - forced into libcli.c (-include) so that it needs no libcrypt: libcli calls
 * crypt(3) only for "{crypt}"/"$1$" passwords given to cli_allow_user() or
 * cli_allow_enable(), which mailgw never uses (the console checks the admin password
 * itself, with SHA-crypt). Such a password can never match.
 */
#define _GNU_SOURCE
#include <unistd.h>
#define crypt(key, salt) ((void)(key), (void)(salt), (char *)0)
