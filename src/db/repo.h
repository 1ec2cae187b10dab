/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Limits shared by the repository operations (src/db/repo_*.h): the sizes of
 * the fixed text fields of their row structs. Each is the limit the registry
 * enforces on the value before it is stored, so a stored value always fits.
 */
#ifndef SL_DB_REPO_H
#define SL_DB_REPO_H

#define SL_REPO_NAME_MAX  96 /* an org, model or account name (SL_NAME_MAX) */
#define SL_REPO_TIER_MAX  15 /* "withheld" and room to spare */
#define SL_REPO_MODEL_MAX (2 * SL_REPO_NAME_MAX + 1) /* "org/name" */

#endif
