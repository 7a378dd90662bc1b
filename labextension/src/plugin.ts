// Copyright (c) jupyter_rt contributors
// Distributed under the terms of the Modified BSD License.

import type {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { IJupyterWidgetRegistry } from '@jupyter-widgets/base';

import { MODULE_NAME, MODULE_VERSION } from './version';
import * as widgets from './widgets';

/**
 * Registers jupyter_rt's widget models and views with the ipywidgets manager
 * (JupyterLab 4 and Notebook 7 share this plugin system).
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-rt:widgets',
  description: 'Socket.IO widgets talking to the page server\'s {base_url}socket.io/.',
  requires: [IJupyterWidgetRegistry],
  autoStart: true,
  activate: (_app: JupyterFrontEnd, registry: IJupyterWidgetRegistry): void => {
    registry.registerWidget({
      name: MODULE_NAME,
      version: MODULE_VERSION,
      exports: widgets
    });
  }
};

export default plugin;
