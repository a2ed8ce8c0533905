/*
 * vecsnap: the commands of the offline tool that live outside vecsnap.c.
 * main() in vecsnap.c dispatches to them with argv starting at the command
 * name; each returns the exit status (0 success, 1 a failed operation, 2
 * misuse).  vecsnap_remote.c: remote storage without the server.
 */
#ifndef VS_VECSNAP_H
#define VS_VECSNAP_H

/* "vecsnap: WHAT: <message> (<class>)" on stderr for the last error;
 * returns the exit status of a failed operation (1). */
int vs_cli_fail(const char *what);

int vs_cli_push(int argc, char **argv);
int vs_cli_pull(int argc, char **argv);
int vs_cli_ls_remote(int argc, char **argv);

#endif
