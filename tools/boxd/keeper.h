/* keeper.h: the first process of sandpit-boxd, which keeps the daemon. */
#ifndef SANDPIT_BOXD_KEEPER_H
#define SANDPIT_BOXD_KEEPER_H

/* keeper_run: become the keeper and fork the daemon; returns only in the
 * daemon process (once per start). The keeper itself never returns: it is a
 * child subreaper and reaps whatever is orphaned below it (PID 1 of these
 * machines reaps nothing, so agents left behind by a daemon that died would
 * otherwise end as zombies), forwards SIGTERM and SIGINT to the daemon and
 * exits with its status, and restarts a daemon killed by a signal (at most
 * once a second). A daemon that exits by itself (bad configuration) is not
 * restarted: the keeper exits with its status. */
void keeper_run(void);

#endif
