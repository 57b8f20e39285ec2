/** CPU time of the Docker daemon, from /proc (Linux, same host). */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';

/** Clock ticks per second (utime and stime are in these). */
export function clockTicks(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

/** The pid of dockerd: /var/run/docker.pid, else the only process named dockerd. */
export function dockerdPid(): number {
  for (const file of ['/var/run/docker.pid', '/run/docker.pid']) {
    if (existsSync(file)) {
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && existsSync(`/proc/${pid}/stat`) && commOf(pid) === 'dockerd') return pid;
    }
  }
  const found = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => commOf(pid) === 'dockerd');
  if (found.length !== 1) throw new Error(`cannot tell which process is dockerd (found ${found.length}: ${found.join(', ')})`);
  return found[0];
}

function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** utime + stime of the process (all its threads, including exited ones), in clock ticks. */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the ")" that closes comm: state is field 3, utime 14, stime 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}
