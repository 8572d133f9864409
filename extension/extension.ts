// Entry point: wires VS Code to the capture engine. Activated by the
// contributions only (a command, the timeline view, a perf.data editor, a
// debug session); the native helper loads with the first capture.

import * as vscode from 'vscode';

import { Controller } from './controller';
import { DebugTargets } from './debug';
import { SidebandLanguageClient } from './languageClient';
import { REVEAL_REGION_COMMAND, type RevealRegionArgs } from '../protocol/server';
import { openTimelinePanel, PerfDataEditorProvider, TimelineViewProvider } from './timelinePanel';

/** The controller of the active extension, whose capture deactivate stops. */
let activeController: Controller | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const symbols = new SidebandLanguageClient(context);
  const view = new TimelineViewProvider(context.extensionUri, symbols);
  const debugTargets = new DebugTargets();
  const controller = new Controller(view, debugTargets);
  activeController = controller;
  context.subscriptions.push(
    symbols,
    view.onDidShow((feed) => symbols.showCapture(feed.path)),
    debugTargets,
    controller,
    vscode.window.registerWebviewViewProvider(TimelineViewProvider.viewType, view, { webviewOptions: { retainContextWhenHidden: true } }),
    vscode.window.registerCustomEditorProvider(PerfDataEditorProvider.viewType, new PerfDataEditorProvider(context.extensionUri, symbols, (file) => controller.fileFeed(file)), {
      supportsMultipleEditorsPerDocument: true,
    }),
    vscode.commands.registerCommand('perfSideband.capture', () => controller.capture()),
    vscode.commands.registerCommand('perfSideband.captureElevated', () => controller.captureElevated()),
    vscode.commands.registerCommand('perfSideband.stop', () => controller.stop()),
    vscode.commands.registerCommand('perfSideband.snapshot', () => controller.snapshot()),
    vscode.commands.registerCommand('perfSideband.openFile', () => controller.openFile()),
    vscode.commands.registerCommand('perfSideband.save', () => controller.save()),
    vscode.commands.registerCommand('perfSideband.exportPerfetto', () => controller.exportPerfetto()),
    vscode.commands.registerCommand('perfSideband.showTimeline', () => vscode.commands.executeCommand(`${TimelineViewProvider.viewType}.focus`)),
    vscode.commands.registerCommand('perfSideband.openTimelineInEditor', () => {
      const feed = controller.current;
      if (feed) openTimelinePanel(context.extensionUri, symbols, feed);
      else void vscode.window.showInformationMessage('Perf Sideband: there is no capture to show. Fix: start one with "Perf Sideband: Capture Sideband", or open a perf.data file.');
    }),
    vscode.commands.registerCommand(REVEAL_REGION_COMMAND, (args: RevealRegionArgs) => view.revealRegion(args.pid, args.time, args.start)),
    vscode.commands.registerCommand('perfSideband.restartLanguageServer', () => symbols.restart()),
  );
}

/**
 * VS Code waits for this before it lets the extension host go: a running
 * capture is stopped and its file finished here, so its reader thread ends
 * while Node is whole instead of being cut off by the host's exit.
 */
export async function deactivate(): Promise<void> {
  const live = activeController?.current;
  activeController = undefined;
  if (!live?.running) return;
  await live.recording.session.stop();
  await live.result;
}
