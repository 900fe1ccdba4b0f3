/*
 * team.h - neighbourhood teams (reference data).  A fresh database holds the
 * five Live Well teams (migration 1); more are added with `coachbox team add`.
 */
#ifndef COACHBOX_TEAM_H
#define COACHBOX_TEAM_H

#include "coachbox/err.h"

struct cb_conn;

/*
 * Add a team: id is 2-64 of [a-z0-9-]; name 1-100 characters on one line.
 * CB_EINVAL (fe names the field) or CB_ECONFLICT if the id exists.  Opens and
 * commits its own transaction, audited.
 */
int cb_team_add(struct cb_conn *c, const char *id, const char *name, struct cb_field_error *fe);

#endif
