// Copyright (c) jupyter_rt contributors
// Distributed under the terms of the Modified BSD License.

export * from './version';
export * from './widgets';
export { default } from './plugin';
