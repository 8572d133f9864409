// Which process a debug session debugs, and when it stops and continues.
//
// Adapters say it in different ways: the DAP `process` event
// (systemProcessId) for those that send it; js-debug sends none, but names
// the child session it creates for the debuggee "app.js [PID]"; attach
// configurations carry `processId`. For adapters that say none of these,
// the likely debuggee is the newest child of the session's adapter. A
// session's decisions are taken for its root session, so a js-debug parent
// and its child make one capture.

import * as vscode from 'vscode';

import type { MarkerKind } from '../core/perfdata/metadata';
import { childrenOf, newestChildOfAdapter, pidFromConfiguration, pidFromSessionName, processLinks } from './targets';

export type DebugEvent = { kind: Exclude<MarkerKind, 'note'>; label: string };

/** The session a capture belongs to: the top of the session's parent chain. */
export function rootOf(session: vscode.DebugSession): vscode.DebugSession {
  let root = session;
  while (root.parentSession) root = root.parentSession;
  return root;
}

/** Client requests that resume the debuggee; adapters need not send `continued` for them. */
const RESUMING = new Set(['continue', 'next', 'stepIn', 'stepOut', 'stepBack', 'reverseContinue', 'restartFrame', 'goto']);

export class DebugTargets implements vscode.Disposable {
  /** By root session id: the debuggee's pid, once known. */
  private readonly pids = new Map<string, number>();
  private readonly waiting = new Map<string, Array<(pid: number) => void>>();
  /** By root session id: the extension host's children before the session's adapter started. */
  private readonly hostChildrenBefore = new Map<string, Set<number>>();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly eventEmitter = new vscode.EventEmitter<{ root: vscode.DebugSession; event: DebugEvent }>();
  /** Stops and continues of any session, with the root session they belong to. */
  readonly onEvent = this.eventEmitter.event;

  constructor() {
    this.disposables.push(
      this.eventEmitter,
      vscode.debug.registerDebugAdapterTrackerFactory('*', {
        createDebugAdapterTracker: (session) => {
          // VS Code asks for trackers before it starts an executable adapter, from this process.
          const root = rootOf(session);
          if (!this.hostChildrenBefore.has(root.id)) this.hostChildrenBefore.set(root.id, new Set(childrenOf(process.pid, processLinks())));
          return this.tracker(session);
        },
      }),
      vscode.debug.onDidStartDebugSession((session) => {
        // The configuration's name, not the session's: VS Code appends " « parent" to the latter.
        const pid = pidFromConfiguration(session.configuration) ?? (session.parentSession ? pidFromSessionName(session.configuration.name) : undefined);
        if (pid !== undefined) this.learn(session, pid);
      }),
      vscode.debug.onDidTerminateDebugSession((session) => {
        if (session.parentSession) return;
        this.pids.delete(session.id);
        this.waiting.delete(session.id);
        this.hostChildrenBefore.delete(session.id);
      }),
    );
  }

  /** What a session's adapter says: the debuggee's pid, stops and continues. */
  private tracker(session: vscode.DebugSession): vscode.DebugAdapterTracker {
    return {
      onDidSendMessage: (message: { type?: string; event?: string; body?: Record<string, unknown> }) => {
        if (message.type !== 'event') return;
        if (message.event === 'process' && typeof message.body?.systemProcessId === 'number') this.learn(session, message.body.systemProcessId);
        else if (message.event === 'stopped') {
          const { reason, description } = message.body ?? {};
          this.fire(session, { kind: 'stopped', label: String(description ?? reason ?? 'stopped') });
        } else if (message.event === 'continued') this.fire(session, { kind: 'continued', label: 'continued' });
      },
      onWillReceiveMessage: (message: { type?: string; command?: string }) => {
        if (message.type === 'request' && message.command && RESUMING.has(message.command)) this.fire(session, { kind: 'continued', label: message.command });
      },
    };
  }

  private learn(session: vscode.DebugSession, pid: number): void {
    const root = rootOf(session);
    // The first pid a root learns is its debuggee's: later ones are its children.
    if (this.pids.has(root.id)) return;
    this.pids.set(root.id, pid);
    this.waiting.get(root.id)?.forEach((resolve) => resolve(pid));
    this.waiting.delete(root.id);
  }

  private fire(session: vscode.DebugSession, event: DebugEvent): void {
    this.eventEmitter.fire({ root: rootOf(session), event });
  }

  /** The pid of a root session's debuggee, once known, or undefined if none is learned within `timeoutMs`. */
  pidOf(root: vscode.DebugSession, timeoutMs: number): Promise<number | undefined> {
    const known = this.pids.get(root.id);
    if (known !== undefined) return Promise.resolve(known);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      const list = this.waiting.get(root.id) ?? [];
      list.push((pid) => {
        clearTimeout(timer);
        resolve(pid);
      });
      this.waiting.set(root.id, list);
    });
  }

  /** For a root session whose adapter names no debuggee: the newest child of its adapter, if it has one. */
  likelyDebuggee(root: vscode.DebugSession): number | undefined {
    const before = this.hostChildrenBefore.get(root.id);
    return before && newestChildOfAdapter(process.pid, before, processLinks());
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
  }
}
