import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ContainerFacts, ContainerMatchConfig, FilterConfig } from '../../src/docker/container-filter.js';
import { compileFilter, filterConfigIssues, imageSpellings, matchConfigIssues, labelSettings, validateFilterConfig } from '../../src/docker/container-filter.js';
import { ReceiverError } from '../../src/errors.js';

const ID = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9';
const OTHER_ID = 'ffffffffffff0000000000000000000000000000000000000000000000000000';

function match(partial: Partial<ContainerMatchConfig> = {}): ContainerMatchConfig {
  return { names: [], ids: [], images: [], labels: [], ...partial };
}

function config(include: Partial<ContainerMatchConfig> = {}, exclude: Partial<ContainerMatchConfig> = {}): FilterConfig {
  return { include: match(include), exclude: match(exclude) };
}

function container(partial: Partial<ContainerFacts> = {}): ContainerFacts {
  return { id: ID, name: 'web', image: 'nginx:1.25', labels: {}, ...partial };
}

function collects(cfg: FilterConfig, c: Partial<ContainerFacts>, selfId: string | null = null): boolean {
  return compileFilter(cfg, selfId).decide(container(c)).collect;
}

function configError(cfg: FilterConfig): string {
  try {
    compileFilter(cfg, null);
  } catch (err) {
    assert.ok(err instanceof ReceiverError);
    assert.equal(err.code, 'CONFIG_INVALID');
    return err.message;
  }
  assert.fail('expected a CONFIG_INVALID error');
}

test('nothing configured: everything is collected, and the filter says it is inactive', () => {
  const filter = compileFilter(config(), null);
  assert.equal(filter.active, false);
  assert.equal(filter.usesNames, false);
  assert.deepEqual(filter.decide(container()), { collect: true, rule: 'no include rules: collected' });
  assert.equal(compileFilter(config({}, { images: ['x'] }), null).active, true);
  assert.equal(compileFilter(config({ names: ['x'] }), null).usesNames, true);
});

test('name globs: anchored, *, ?, [set], [!set], [range], escapes; the leading / is ignored', () => {
  const cases: Array<[string, string, boolean]> = [
    ['web', 'web', true],
    ['web', 'web-1', false],
    ['web', 'my-web', false],
    ['web*', 'web-1', true],
    ['*-sidecar', 'pay-sidecar', true],
    ['*-sidecar', 'pay-sidecar-2', false],
    ['*', 'anything', true],
    ['web-?', 'web-1', true],
    ['web-?', 'web-12', false],
    ['web-[12]', 'web-2', true],
    ['web-[12]', 'web-3', false],
    ['web-[!12]', 'web-3', true],
    ['web-[^12]', 'web-1', false],
    ['web-[0-9][0-9]', 'web-42', true],
    ['web-[0-9][0-9]', 'web-4x', false],
    ['[]x]', ']', true],
    ['[a-]', '-', true],
    ['a.b', 'a.b', true],
    ['a.b', 'axb', false], // '.' is not a wildcard
    ['a+b', 'a+b', true],
    ['(x)|y', '(x)|y', true],
    ['\\*', '*', true],
    ['\\*', 'x', false],
    ['a\\[b', 'a[b', true],
    ['[\\d]', 'd', true], // an escaped letter in a set is the letter, not \d
    ['[\\d]', '5', false],
    ['/web', 'web', true],
    ['WEB', 'web', false], // globs are case-sensitive
  ];
  for (const [entry, name, expected] of cases) {
    assert.equal(collects(config({ names: [entry] }), { name }), expected, `names ${JSON.stringify(entry)} vs ${name}`);
  }
  // Docker's leading '/' in the container name does not count either.
  assert.equal(collects(config({ names: ['web'] }), { name: '/web' }), true);
});

test('name regexes: /…/ unanchored, with flags', () => {
  const cases: Array<[string, string, boolean]> = [
    ['/^web-\\d+$/', 'web-12', true],
    ['/^web-\\d+$/', 'web-x', false],
    ['/pay/', 'my-payments', true], // not anchored
    ['/^PAY/', 'payments', false],
    ['/^PAY/i', 'payments', true],
    ['//', 'anything', true],
  ];
  for (const [entry, name, expected] of cases) {
    assert.equal(collects(config({ names: [entry] }), { name }), expected, `names ${entry} vs ${JSON.stringify(name)}`);
  }
});

test('property: a glob without wildcards matches exactly itself, whatever regex characters it holds', () => {
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 20 }), fc.string({ maxLength: 20 }), (text, other) => {
      fc.pre(!/[*?[\\]/.test(text) && !/^\/.*\/[a-z]*$/s.test(text) && !text.startsWith('/'));
      const filter = compileFilter(config({ names: [text] }), null);
      assert.equal(filter.decide(container({ name: text })).collect, true);
      assert.equal(filter.decide(container({ name: other })).collect, other === text);
    }),
  );
});

/** A reference glob matcher for * and ? only, by recursion: slow, obviously right. */
function globReference(glob: string, value: string): boolean {
  if (glob === '') return value === '';
  if (glob[0] === '*') return globReference(glob.slice(1), value) || (value !== '' && globReference(glob, value.slice(1)));
  if (value === '') return false;
  return (glob[0] === '?' || glob[0] === value[0]) && globReference(glob.slice(1), value.slice(1));
}

test('property: * and ? globs agree with a reference matcher, regex characters staying literal', () => {
  const globChars = fc.constantFrom('a', 'b', '.', '*', '?', '(', '+', '$', '|', '^');
  const valueChars = fc.constantFrom('a', 'b', '.', '(', '+', '$', '|', '^', '\n');
  fc.assert(
    fc.property(fc.string({ unit: globChars, minLength: 1, maxLength: 8 }), fc.string({ unit: valueChars, maxLength: 10 }), (glob, value) => {
      const filter = compileFilter(config({}, { labels: [`k=${glob}`] }), null);
      assert.equal(!filter.decide(container({ labels: { k: value } })).collect, globReference(glob, value), `${glob} vs ${JSON.stringify(value)}`);
    }),
    { numRuns: 2000 },
  );
});

test('property: any string escaped with \\ matches itself only', () => {
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 20 }), (text) => {
      const escaped = text.replace(/./gsu, (ch) => `\\${ch}`);
      const filter = compileFilter(config({}, { labels: [`k=${escaped}`] }), null);
      assert.equal(filter.decide(container({ labels: { k: text } })).collect, false);
      assert.equal(filter.decide(container({ labels: { k: `${text}x` } })).collect, true);
    }),
  );
});

test('ids: 12+ hex digits match by prefix (case-insensitive), globs and regexes see the full id', () => {
  assert.equal(collects(config({ ids: [ID] }), {}), true);
  assert.equal(collects(config({ ids: [ID.slice(0, 12)] }), {}), true);
  assert.equal(collects(config({ ids: [ID.slice(0, 20).toUpperCase()] }), {}), true);
  assert.equal(collects(config({ ids: [ID.slice(0, 12)] }), { id: OTHER_ID }), false);
  assert.equal(collects(config({ ids: ['a1b2*'] }), {}), true); // a short prefix, on purpose, by glob
  assert.equal(collects(config({ ids: ['/^a1b2/'] }), {}), true);
  assert.equal(collects(config({ ids: ['/^a1b3/'] }), {}), false);
});

test('images: a bare name matches every tag, registry spelling and digest', () => {
  const cases: Array<[string, string, boolean]> = [
    ['nginx', 'nginx', true],
    ['nginx', 'nginx:1.25', true],
    ['nginx', 'docker.io/library/nginx:1.25', true],
    ['nginx', 'index.docker.io/library/nginx', true],
    ['nginx', 'library/nginx:alpine', true],
    ['nginx', 'nginx@sha256:0123', true],
    ['nginx', 'nginx-extra:1', false],
    ['nginx', 'bitnami/nginx:1.25', false],
    ['nginx', 'registry:5000/nginx:1.25', false],
    ['nginx:1.25', 'nginx:1.25', true],
    ['nginx:1.25', 'docker.io/library/nginx:1.25', true],
    ['nginx:1.25', 'nginx:1.26', false],
    ['nginx:latest', 'nginx', true], // no tag is latest
    ['nginx:latest', 'nginx@sha256:0123', false], // a digest alone is no tag
    ['docker.io/library/nginx', 'nginx:1.25', true],
    ['library/nginx', 'nginx:1.25', true],
    ['nginx@sha256:0123', 'nginx:1.25@sha256:0123', true],
    ['nginx@sha256:0123', 'nginx:1.25@sha256:4567', false],
    ['bitnami/nginx', 'docker.io/bitnami/nginx:1.25', true],
    ['bitnami/nginx', 'nginx', false],
    ['registry:5000/app', 'registry:5000/app:v1', true],
    ['registry:5000/app:v1', 'registry:5000/app:v1', true],
    ['registry:5000/app:v1', 'registry:5000/app:v2', false],
    ['registry:5000/app', 'app:v1', false],
    ['localhost/app', 'localhost/app:dev', true],
    ['app', 'localhost/app:dev', false], // localhost is a registry, not docker.io
    ['ghcr.io/org/app', 'ghcr.io/org/app:1', true],
    ['org/app', 'ghcr.io/org/app:1', false],
    // images run by id
    ['ad12acce53af', 'ad12acce53af', true],
    [`sha256:${'e'.repeat(64)}`, `sha256:${'e'.repeat(64)}`, true],
  ];
  for (const [entry, image, expected] of cases) {
    assert.equal(collects(config({ images: [entry] }), { image }), expected, `images ${entry} vs ${image}`);
  }
});

test('images: globs and regexes are tried on every spelling of the reference', () => {
  assert.deepEqual(imageSpellings('nginx:1.25'), ['nginx:1.25', 'nginx', 'docker.io/library/nginx', 'docker.io/library/nginx:1.25']);
  assert.deepEqual(imageSpellings('nginx'), ['nginx', 'nginx:latest', 'docker.io/library/nginx', 'docker.io/library/nginx:latest']);
  assert.deepEqual(imageSpellings('registry:5000/app:v1'), ['registry:5000/app:v1', 'registry:5000/app']);
  assert.deepEqual(imageSpellings('app@sha256:ab'), ['app@sha256:ab', 'app', 'docker.io/library/app', 'docker.io/library/app@sha256:ab']);
  const cases: Array<[string, string, boolean]> = [
    ['nginx:1.*', 'nginx:1.25', true],
    ['nginx:1.*', 'docker.io/library/nginx:1.25', true],
    ['nginx:1.*', 'nginx:2.0', false],
    ['nginx:*', 'nginx', true],
    ['ngin?', 'nginx:1.25', true], // no tag in the entry: any tag
    ['docker.io/library/*', 'redis:7', true],
    ['registry:5000/*', 'registry:5000/app:v1', true],
    ['registry:5000/*', 'app:v1', false],
    ['*/app:v[0-9]', 'registry:5000/app:v1', true],
    ['/^nginx$/', 'nginx:1.25', true],
    ['/^redis$/', 'nginx:1.25', false],
    ['/NGINX/i', 'nginx:1.25', true],
    ['/:1\\.25$/', 'docker.io/library/nginx:1.25', true],
  ];
  for (const [entry, image, expected] of cases) {
    assert.equal(collects(config({ images: [entry] }), { image }), expected, `images ${entry} vs ${image}`);
  }
});

test('labels: key present, key=value, key= (empty), value globs and regexes; prototype keys are not labels', () => {
  const labels = { team: 'payments', tier: '', 'com.example.role': 'api' };
  const cases: Array<[string, boolean]> = [
    ['team', true],
    ['owner', false],
    ['team=payments', true],
    ['team=pay', false],
    ['team=pay*', true],
    ['team=/^pay/', true],
    ['team=/^PAY/i', true],
    ['team=/^ops/', false],
    ['tier=', true],
    ['team=', false],
    ['com.example.role=api', true],
    ['com.example.role=a=b', false],
    ['constructor', false],
    ['toString=*', false],
  ];
  for (const [entry, expected] of cases) {
    assert.equal(collects(config({ labels: [entry] }), { labels }), expected, `labels ${entry}`);
  }
  assert.equal(collects(config({ labels: ['url=a=b'] }), { labels: { url: 'a=b' } }), true, 'the value is everything after the first =');
  // Label values may be paths: /var/log is a glob (only /…/ and /…/i are regexes there).
  assert.equal(collects(config({ labels: ['dir=/var/log'] }), { labels: { dir: '/var/log' } }), true);
  assert.equal(collects(config({ labels: ['dir=/var/log/*'] }), { labels: { dir: '/var/log/app' } }), true);
  assert.equal(collects(config({ labels: ['dir=/var/'] }), { labels: { dir: '/srv/var' } }), true, '/var/ is a regex');
  assert.equal(collects(config({ labels: ['dir=\\/var/'] }), { labels: { dir: '/srv/var/' } }), false, 'escaped: a literal');
  assert.equal(collects(config({ labels: ['dir=\\/var/'] }), { labels: { dir: '/var/' } }), true);
});

test('include: any entry of any list selects; exclude wins over include; the rule names the entry', () => {
  const cfg = config({ names: ['web*'], labels: ['team=pay*'] }, { names: ['other', '*-sidecar'] });
  const filter = compileFilter(cfg, null);
  assert.deepEqual(filter.decide(container({ name: 'web-1' })), { collect: true, rule: 'include.names[0] "web*"' });
  assert.deepEqual(filter.decide(container({ name: 'api', labels: { team: 'payments' } })), {
    collect: true,
    rule: 'include.labels[0] "team=pay*"',
  });
  assert.deepEqual(filter.decide(container({ name: 'web-sidecar' })), { collect: false, rule: 'exclude.names[1] "*-sidecar"' });
  assert.deepEqual(filter.decide(container({ name: 'db' })), { collect: false, rule: 'matched no include rule' });
  // Exclude alone: everything else is collected.
  const onlyExclude = compileFilter(config({}, { images: ['busybox'] }), null);
  assert.equal(onlyExclude.decide(container({ image: 'busybox:1.36' })).collect, false);
  assert.equal(onlyExclude.decide(container({ image: 'nginx' })).collect, true);
});

test('the opt-out label beats include; the opt-in label beats include but not exclude', () => {
  const cfg = config({ names: ['web'] }, { names: ['blocked'] });
  const filter = compileFilter(cfg, null);
  for (const value of ['false', 'FALSE', '0', 'no', 'Off', ' off ']) {
    assert.deepEqual(filter.decide(container({ name: 'web', labels: { 'io.opentelemetry.logs.enabled': value } })), {
      collect: false,
      rule: `label io.opentelemetry.logs.enabled=${value}`,
    });
  }
  for (const value of ['true', 'True', '1', 'yes', 'on']) {
    assert.deepEqual(filter.decide(container({ name: 'db', labels: { 'io.opentelemetry.logs.enabled': value } })), {
      collect: true,
      rule: `label io.opentelemetry.logs.enabled=${value}`,
    });
  }
  assert.deepEqual(filter.decide(container({ name: 'blocked', labels: { 'io.opentelemetry.logs.enabled': 'true' } })), {
    collect: false,
    rule: 'exclude.names[0] "blocked"',
  });
  // A value that is not understood is ignored: include decides.
  assert.deepEqual(filter.decide(container({ name: 'db', labels: { 'io.opentelemetry.logs.enabled': 'maybe' } })), {
    collect: false,
    rule: 'matched no include rule',
  });
  // The opt-out works with no rules configured at all.
  assert.equal(collects(config(), { labels: { 'io.opentelemetry.logs.enabled': 'false' } }), false);
});

test("the receiver's own container is never collected, whatever the rules and labels say", () => {
  const filter = compileFilter(config({ ids: [ID] }), ID.toUpperCase());
  assert.deepEqual(filter.decide(container({ labels: { 'io.opentelemetry.logs.enabled': 'true' } })), {
    collect: false,
    rule: "the receiver's own container",
  });
  assert.equal(compileFilter(config(), ID).decide(container({ id: OTHER_ID })).collect, true);
  assert.equal(compileFilter(config(), null).decide(container()).collect, true);
});

test('decisions for matched rules are shared objects: deciding allocates nothing per rule', () => {
  const filter = compileFilter(config({ names: ['web'] }), null);
  assert.equal(filter.decide(container()), filter.decide(container()));
  assert.ok(Object.isFrozen(filter.decide(container())));
});

test('invalid entries: CONFIG_INVALID naming the key path; validateFilterConfig lists them all', () => {
  assert.equal(
    configError(config({ names: ['a', 'b', '/(unclosed/'] })),
    'receivers.docker_logs.include.names[2]: invalid regular expression /(unclosed/: Unterminated group',
  );
  assert.match(configError(config({}, { labels: ['team=/[/'] })), /^receivers\.docker_logs\.exclude\.labels\[0\]: invalid regular expression \/\[\/: /);
  assert.match(configError(config({ names: ['/x/g'] })), /include\.names\[0\]: invalid regular expression \/x\/g: flags "g" are not supported \(only i\)/);
  assert.match(configError(config({ images: ['/x/ii'] })), /include\.images\[0\]: invalid regular expression \/x\/ii: flags "ii"/);
  assert.match(configError(config({ names: ['web-[12'] })), /include\.names\[0\]: invalid glob: "\[" at position 5 is never closed/);
  assert.match(configError(config({ names: ['[z-a]'] })), /include\.names\[0\]: invalid glob: Range out of order/);
  assert.match(configError(config({ names: ['web\\'] })), /ends with a lone "\\"/);
  assert.match(configError(config({ names: [''] })), /include\.names\[0\]: empty entry/);
  assert.match(configError(config({ ids: ['abc123'] })), /include\.ids\[0\]: an id prefix needs at least 12 hex digits, got 6 \(write "abc123\*"/);
  assert.match(configError(config({ ids: ['a'.repeat(65)] })), /has 64 hex digits, got 65/);
  assert.match(configError(config({ ids: ['web'] })), /include\.ids\[0\]: neither a hex id/);
  assert.match(configError(config({ images: ['nginx:'] })), /include\.images\[0\]: not an image reference/);
  assert.match(configError(config({ labels: ['=x'] })), /include\.labels\[0\]: empty label key/);
  assert.match(configError(config({ labels: ['com.example.*'] })), /label keys are matched literally/);

  const many = config({ names: ['/(/'], images: ['ok', 'x@'] }, { labels: ['=v'] });
  assert.deepEqual(
    validateFilterConfig(many, 'receivers.docker_logs/prod').map((issue) => issue.split(':')[0]),
    ['receivers.docker_logs/prod.include.names[0]', 'receivers.docker_logs/prod.include.images[1]', 'receivers.docker_logs/prod.exclude.labels[0]'],
  );
  assert.deepEqual(filterConfigIssues(many)[0], { key: 'include.names[0]', message: 'invalid regular expression /(/: Unterminated group' });
  assert.deepEqual(matchConfigIssues(many.include).map((issue) => issue.key), ['names[0]', 'images[1]']);
  const message = configError(many);
  assert.match(message, /^3 invalid container filter entries:\n {2}receivers\.docker_logs\.include\.names\[0\]/);
  assert.deepEqual(validateFilterConfig(config({ names: ['web*', '/^a/i'], ids: [ID.slice(0, 12)], images: ['nginx'], labels: ['a=b'] }), 'r'), []);
  // A custom key path for the thrown error.
  assert.throws(() => compileFilter(config({ names: ['/(/'] }), null, 'receivers.docker_logs/b'), /^ReceiverError: receivers\.docker_logs\/b\.include\.names\[0\]/);
});

test('labelSettings: parse, multiline patterns, problems reported and ignored', () => {
  assert.deepEqual(labelSettings({}), { parse: null, multilineStartPattern: null, multilineEndPattern: null, problems: [] });
  assert.deepEqual(
    labelSettings({
      'io.opentelemetry.logs.parse': 'JSON',
      'io.opentelemetry.logs.multiline.line_start_pattern': '^\\d{4}-',
      'io.opentelemetry.logs.enabled': 'true',
      'com.example.other': 'x',
    }),
    { parse: 'json', multilineStartPattern: '^\\d{4}-', multilineEndPattern: null, problems: [] },
  );
  assert.deepEqual(labelSettings({ 'io.opentelemetry.logs.multiline.line_end_pattern': ';$' }).multilineEndPattern, ';$');
  assert.deepEqual(labelSettings({ 'io.opentelemetry.logs.parse': 'none' }).problems, []);

  const bad = labelSettings({
    'io.opentelemetry.logs.parse': 'xml',
    'io.opentelemetry.logs.multiline.line_start_pattern': '([',
    'io.opentelemetry.logs.multiline.line_end_pattern': '',
    'io.opentelemetry.logs.enabled': 'maybe',
    'io.opentelemetry.logs.multiline.start': 'x',
  });
  assert.equal(bad.parse, null);
  assert.equal(bad.multilineStartPattern, null);
  assert.equal(bad.multilineEndPattern, null);
  assert.equal(bad.problems.length, 5);
  assert.match(bad.problems[0], /^label io\.opentelemetry\.logs\.parse="xml": unknown value \(expected json or none\); ignored$/);
  assert.match(bad.problems[1], /^label io\.opentelemetry\.logs\.multiline\.line_start_pattern="\(\[": invalid regular expression: /);
  assert.match(bad.problems[2], /line_end_pattern: empty pattern/);
  assert.match(bad.problems[3], /enabled="maybe": not understood/);
  assert.match(bad.problems[4], /^label io\.opentelemetry\.logs\.multiline\.start: unknown setting/);

  const both = labelSettings({
    'io.opentelemetry.logs.multiline.line_start_pattern': '^\\S',
    'io.opentelemetry.logs.multiline.line_end_pattern': ';$',
  });
  assert.equal(both.multilineStartPattern, '^\\S');
  assert.equal(both.multilineEndPattern, null);
  assert.match(both.problems[0], /both set; only one may be/);
});
