// How a capture gets privileges when the user asks for them: which way to
// run the capture helper (polkit's pkexec where an agent can ask, else sudo
// in a terminal), which refusals to offer it for, and what the user is asked
// to consent to, each time. Needs no VS Code; the controller shows it.

import * as fs from 'node:fs';
import * as path from 'node:path';

/** pkexec, whose agent asks in a window, or sudo in a VS Code terminal, where it asks for the password. */
export type Elevation = 'pkexec' | 'sudo-terminal';

/** Whether `name` is an executable file in one of PATH's folders. */
export function onPath(name: string, pathVariable = process.env.PATH ?? ''): boolean {
  return pathVariable.split(':').some((dir) => {
    try {
      fs.accessSync(path.join(dir, name), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * pkexec where a polkit agent can ask: a graphical session on this
 * machine (a remote extension host has no agent to show its window), else
 * sudo in a terminal.
 */
export function chooseElevation(env: NodeJS.ProcessEnv, remote: boolean, hasPkexec: boolean): Elevation {
  const graphical = Boolean(env.WAYLAND_DISPLAY || env.DISPLAY);
  return hasPkexec && graphical && !remote && !env.SSH_CONNECTION ? 'pkexec' : 'sudo-terminal';
}

/** The refusals that privileges would lift: ptrace access, the sysctl, perf refused for this user. */
export function liftedByPrivileges(code: string | undefined): boolean {
  return code === 'EPTRACE' || code === 'EPARANOID' || code === 'EPERM';
}

/** What the user consents to: the program that runs as root, and how, with the argv it is given, quoted only to be read. */
export function consentText(elevation: Elevation, argv: readonly string[]): string {
  const how = elevation === 'pkexec' ? 'pkexec (your system will ask for your password)' : 'sudo in a terminal (type your password there)';
  const shown = argv.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`)).join(' ');
  return `This runs the capture helper as root through ${how}:\n\n${shown}\n\nIt only attaches to that process and writes your capture file; the editor keeps no privileges, and nothing is changed for later captures.`;
}
