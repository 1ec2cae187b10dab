// SPDX-License-Identifier: Apache-2.0
// The web UI (docs/web.md): renders every page from the path over the JSON API.
"use strict";
