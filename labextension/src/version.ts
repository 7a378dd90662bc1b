// Copyright (c) jupyter_rt contributors
// Distributed under the terms of the Modified BSD License.

// The widget module name and version are read from package.json, so the Python side
// (jupyter_rt/widgets/_frontend.py) and this bundle always agree on what they talk to.
declare function require(path: string): unknown;

// The bundler inlines package.json (it lies outside `rootDir`, so no `import`).
const data = require('../package.json') as { name: string; version: string };

/** The `_model_module` / `_view_module` every jupyter_rt widget names. */
export const MODULE_NAME: string = data.name;

/** The `_model_module_version` this bundle implements (the npm package version). */
export const MODULE_VERSION: string = data.version;
