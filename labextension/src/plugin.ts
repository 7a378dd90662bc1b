// Copyright (c) jupyter_rt contributors
// Distributed under the terms of the Modified BSD License.

import type {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { IJupyterWidgetRegistry } from '@jupyter-widgets/base';

import { PANEL_ID, RealtimePanel } from './panel';
import { MODULE_NAME, MODULE_VERSION } from './version';
import * as widgets from './widgets';

/**
 * Registers jupyter_rt's widget models and views with the ipywidgets manager
 * (JupyterLab 4 and Notebook 7 share this plugin system).
 */
const widgetsPlugin: JupyterFrontEndPlugin<void> = {
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

/** The command that shows the "Realtime" panel (also in the command palette's search). */
export const OPEN_PANEL_COMMAND = 'jupyter-rt:open-realtime-panel';

/**
 * The "Realtime" panel in the left sidebar. Only the generic shell is used (`add(widget,
 * 'left')`, `activateById`), so it works in JupyterLab and in Notebook 7 alike; it talks to
 * the server directly, no kernel needed.
 */
const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-rt:realtime-panel',
  description: 'A side panel showing the server\'s namespaces, rooms, sockets and traffic.',
  autoStart: true,
  activate: (app: JupyterFrontEnd): void => {
    const panel = new RealtimePanel();
    app.shell.add(panel, 'left', { rank: 900 });
    app.commands.addCommand(OPEN_PANEL_COMMAND, {
      label: 'Realtime Panel',
      caption: 'Show the realtime server\'s namespaces, rooms and sockets',
      execute: () => app.shell.activateById(PANEL_ID)
    });
  }
};

export default [widgetsPlugin, panelPlugin];
