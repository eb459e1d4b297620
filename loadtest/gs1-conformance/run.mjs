#!/usr/bin/env node
// Runs GS1's conformance test suite for GS1-Conformant resolvers
// (github.com/gs1/GS1DL-resolver-testsuite, vendored unchanged in vendor/) from the
// command line against a server on this machine:
//
//   node loadtest/gs1-conformance/run.mjs --base http://127.0.0.1:8080 --dl /01/09506000134352
//
// The suite is browser JavaScript: it reports through the DOM and makes its HTTP
// requests either with the browser's fetch or through a PHP helper (tester.php) that
// does them server-side with cURL and answers with status and headers as JSON. This
// runner loads GS1's scripts unchanged into a Node vm context and gives them:
//   - a `fetch` that answers the suite's calls to tester.php with a port of tester.php
//     (same requests, same headers, same JSON, PHP's query-string decoding included),
//     serves the two JSON files the suite loads from GS1's sites (linkset schema, list
//     of link types) from vendor/, and sends every other request, as a browser would
//     (redirects followed, CORS checked), to the server under test;
//   - a minimal `document`, enough for the suite's own output code, whose results are
//     then read back from the suite's `resultsArray`;
//   - `window.ajv7`, Ajv's browser bundle (npm package ajv-dist, see README.md).
// Every request goes to a loopback address; anything else is refused. See README.md.

import vm from 'node:vm';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const VENDOR = path.join(HERE, 'vendor');
const SUITE_COMMIT = 'e3485a5b78bee1efa4e8bc4e0dfd140472d718df';

// What the hosted suite's page and its PHP helper send.
const PAGE_URL = 'https://ref.gs1.org/test-suites/resolver/';
const PAGE_ORIGIN = 'https://ref.gs1.org';
const PHP_ORIGIN_HEADER = 'Origin: https://ref.gs1.org/test-suites/resolver/'; // tester.php, verbatim
const MAX_BODY = 16 * 1024 * 1024;

// ---------------------------------------------------------------- command line

const USAGE = `usage: node run.mjs --base URL --dl PATH [options]

  --base URL        the server under test, a loopback http(s) URL (http://127.0.0.1:8080)
  --dl PATH         the GS1 Digital Link path to test (/01/09506000134352, or
                    /01/GTIN/10/LOT/21/SERIAL); the suite is given ORIGIN + PATH
  --origin URL      the origin the suite sees in the Digital Link URI (default: --base).
                    Requests to it are sent to --base with Host set to its host and
                    X-Forwarded-Proto to its scheme, as a TLS-terminating proxy would.
                    The suite's TLS and description-file checks always use
                    https://<host of the Digital Link URI>; with an https origin they
                    reach the server too (and the TLS check then passes by construction)
  --rd-schema FILE  a copy of GS1's JSON schema for resolver description files
                    (https://ref.gs1.org/standards/resolver/description-file-schema);
                    without it the description-file check cannot pass
  --timeout SEC     timeout of each request (default 10, as tester.php's cURL calls)
  --deadline SEC    give up on the whole run after this long (default 300)
  --insecure        do not verify the certificate of an https --base
  --json FILE       also write the results as JSON
  --strict          exit non-zero on warnings too
  --verbose         print every HTTP exchange and the suite's console output as they happen
`;

function parseArgs(argv) {
    const o = { timeout: 10, deadline: 300, insecure: false, strict: false, verbose: false };
    const takes = new Set(['--base', '--dl', '--origin', '--rd-schema', '--timeout', '--deadline', '--json']);
    for (let i = 0; i < argv.length; i++) {
        let a = argv[i];
        let v;
        const eq = a.indexOf('=');
        if (a.startsWith('--') && eq > 0) { v = a.slice(eq + 1); a = a.slice(0, eq); }
        if (a === '--help' || a === '-h') { process.stdout.write(USAGE); process.exit(0); }
        if (takes.has(a)) {
            if (v === undefined) { v = argv[++i]; }
            if (v === undefined) { usageError(`${a} needs a value`); }
            o[a.slice(2).replace(/-(.)/g, (_, c) => c.toUpperCase())] = v;
        } else if (a === '--insecure' || a === '--strict' || a === '--verbose') {
            o[a.slice(2)] = true;
        } else {
            usageError(`unknown argument ${a}`);
        }
    }
    if (!o.base || !o.dl) { usageError('--base and --dl are required'); }
    o.timeout = Number(o.timeout);
    o.deadline = Number(o.deadline);
    if (!(o.timeout > 0) || !(o.deadline > 0)) { usageError('--timeout and --deadline take a positive number of seconds'); }
    return o;
}

function usageError(msg) {
    process.stderr.write(`${msg}\n\n${USAGE}`);
    process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));

function parseHttpUrl(s, what) {
    let u;
    try { u = new URL(s); } catch { usageError(`${what}: not a URL: ${s}`); }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') { usageError(`${what}: not an http(s) URL: ${s}`); }
    return u;
}

function isLoopbackHost(hostname) {
    const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
    if (h === 'localhost') { return true; }
    if (net.isIPv4(h)) { return h.startsWith('127.'); }
    if (net.isIPv6(h)) { return h === '::1' || h === '0:0:0:0:0:0:0:1'; }
    return false;
}

const base = parseHttpUrl(opts.base, '--base');
if (!isLoopbackHost(base.hostname)) { usageError(`--base must be a loopback address (127.0.0.0/8, [::1] or localhost), not ${base.hostname}`); }
const origin = opts.origin ? parseHttpUrl(opts.origin, '--origin') : base;
if (!opts.dl.startsWith('/')) { usageError('--dl takes a path starting with /, e.g. /01/09506000134352'); }
const dlUnderTest = origin.origin + opts.dl;
let rdSchemaText = null;
if (opts.rdSchema) {
    if (!existsSync(opts.rdSchema)) { usageError(`--rd-schema: no such file ${opts.rdSchema}`); }
    rdSchemaText = readFileSync(opts.rdSchema, 'utf8');
}

const ajvBundle = path.join(HERE, 'node_modules', 'ajv-dist', 'dist', 'ajv7.min.js');
if (!existsSync(ajvBundle)) {
    process.stderr.write(`missing ${path.relative(process.cwd(), ajvBundle)}: run "npm ci" in ${path.relative(process.cwd(), HERE) || '.'} first\n`);
    process.exit(2);
}

// ---------------------------------------------------------------- the wire

const exchanges = []; // every HTTP request made to the server under test
let inflight = 0;
const notes = [];     // things the runner itself has to say about this run

// Where a URL is actually sent: the --origin is mapped to --base; everything else must
// itself be a loopback URL.
function route(urlString) {
    const u = new URL(urlString);
    if (u.origin === origin.origin && origin.origin !== base.origin) {
        const target = new URL(u.pathname + u.search, base);
        return { target, host: origin.host, forwardedProto: origin.protocol.slice(0, -1) };
    }
    if (!isLoopbackHost(u.hostname)) {
        throw new Error(`refused: ${u.origin} is not a loopback address`);
    }
    return { target: u, host: null, forwardedProto: null };
}

// One HTTP request, no redirect followed. headerLines are "Name: value" strings in order.
function wire(target, method, headerLines, { readBody = true, host = null, forwardedProto = null } = {}) {
    return new Promise((resolve, reject) => {
        const headers = {};
        headers.Host = host ?? target.host;
        if (forwardedProto) { headers['X-Forwarded-Proto'] = forwardedProto; }
        for (const line of headerLines) {
            const c = line.indexOf(':');
            headers[line.slice(0, c).trim()] = line.slice(c + 1).trim();
        }
        const mod = target.protocol === 'https:' ? https : http;
        const ms = Math.round(opts.timeout * 1000);
        let done = false;
        const req = mod.request({
            protocol: target.protocol,
            hostname: target.hostname.replace(/^\[|\]$/g, ''),
            port: target.port || (target.protocol === 'https:' ? 443 : 80),
            path: target.pathname + target.search,
            method,
            headers,
            agent: false,
            rejectUnauthorized: !opts.insecure,
            servername: net.isIP(target.hostname.replace(/^\[|\]$/g, '')) ? undefined : target.hostname,
        }, (res) => {
            const chunks = [];
            let size = 0;
            res.on('data', (c) => {
                if (!readBody) { return; }
                size += c.length;
                if (size > MAX_BODY) { req.destroy(new Error(`response body larger than ${MAX_BODY} bytes`)); return; }
                chunks.push(c);
            });
            res.on('end', () => {
                if (done) { return; }
                done = true; clearTimeout(timer);
                resolve({
                    version: res.httpVersion,
                    status: res.statusCode,
                    statusText: res.statusMessage ?? '',
                    rawHeaders: res.rawHeaders,
                    body: Buffer.concat(chunks),
                    sentHeaders: headers,
                });
            });
            res.on('error', (e) => { if (!done) { done = true; clearTimeout(timer); reject(e); } });
        });
        const timer = setTimeout(() => req.destroy(new Error(`Operation timed out after ${ms} milliseconds`)), ms);
        req.on('error', (e) => { if (!done) { done = true; clearTimeout(timer); reject(e); } });
        req.end();
    });
}

function headerPairs(rawHeaders) {
    const out = [];
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) { out.push([rawHeaders[i], rawHeaders[i + 1]]); }
    return out;
}

function findHeader(rawHeaders, name) {
    let v;
    for (const [n, val] of headerPairs(rawHeaders)) { if (n.toLowerCase() === name) { v = val; } }
    return v;
}

// A request to the server under test, logged. `via` names who asked: a tester.php
// function or the browser. testerUrl ties it to the suite's test object.
async function logged(via, testerUrl, urlString, method, headerLines, options = {}) {
    const entry = { seq: exchanges.length + 1, via, testerUrl, method, url: urlString, requestHeaders: [...headerLines] };
    exchanges.push(entry);
    inflight++;
    const t0 = Date.now();
    try {
        const r = route(urlString);
        entry.sentTo = r.target.href;
        if (r.host) { entry.requestHeaders.unshift(`Host: ${r.host}`, `X-Forwarded-Proto: ${r.forwardedProto}`); }
        const res = await wire(r.target, method, headerLines, { ...options, host: r.host, forwardedProto: r.forwardedProto });
        entry.status = res.status;
        entry.statusText = res.statusText;
        entry.responseHeaders = headerPairs(res.rawHeaders);
        entry.location = findHeader(res.rawHeaders, 'location');
        entry.bodyBytes = res.body.length;
        return res;
    } catch (e) {
        const tls = /SSL routines:[^:]*:([^:]+)/.exec(e.message);
        entry.error = tls ? `TLS handshake failed (${tls[1]})` : String(e.message).split('\n')[0].trim();
        throw tls ? new Error(entry.error) : e;
    } finally {
        entry.ms = Date.now() - t0;
        inflight--;
        if (opts.verbose) { process.stdout.write(`  ${describeExchange(entry, true)}\n`); }
    }
}

// ---------------------------------------------------------------- tester.php, ported

// PHP strings are bytes; here a "binary string" holds one byte per char (latin1).
function phpUrldecode(bin) {
    return bin.replace(/\+/g, ' ').replace(/%([0-9a-fA-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
}

// parse_str(): split on &, then on the first =, each side urldecoded; in a name, spaces
// and dots become underscores; a later value replaces an earlier one.
function phpParseStr(bin) {
    const out = {};
    for (const part of bin.split('&')) {
        if (part === '') { continue; }
        const eq = part.indexOf('=');
        const k = phpUrldecode(eq === -1 ? part : part.slice(0, eq)).replace(/[ .]/g, '_');
        out[k] = eq === -1 ? '' : phpUrldecode(part.slice(eq + 1));
    }
    return out;
}

function rawurlencode(buf) {
    let s = '';
    for (const b of buf) {
        const c = String.fromCharCode(b);
        s += /[A-Za-z0-9_.~-]/.test(c) ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0');
    }
    return s;
}

const binToUtf8 = (bin) => Buffer.from(bin, 'latin1').toString('utf8');

// parseHeadersToArray(): lines of the header block; "Name: value" lines keyed by their
// name as sent (a later one replaces an earlier one), any other line under key 0.
function parseHeadersToArray(headersRaw) {
    const out = {};
    for (const line of headersRaw.trim().split('\r\n')) {
        const i = line.indexOf(': ');
        if (i !== -1) { out[line.slice(0, i)] = line.slice(i + 2); } else { out[0] = line; }
    }
    return out;
}

// parseHttpStatusMessage(): the raw header block split on spaces, from the third piece on.
function parseHttpStatusMessage(h) {
    return h.split(' ').slice(2).map((p) => p + ' ').join('').trim();
}

function headerBlock(res) {
    const lines = [`HTTP/${res.version} ${res.status} ${res.statusText}`];
    for (const [n, v] of headerPairs(res.rawHeaders)) { lines.push(`${n}: ${v}`); }
    return lines.join('\r\n') + '\r\n\r\n';
}

// cURL's request headers: its own Accept: */* unless one is given; a header given with
// an empty value is not sent (and, for Accept, removes cURL's own).
function curlHeaders(custom) {
    const out = [];
    const named = new Set(custom.map((l) => l.slice(0, l.indexOf(':')).trim().toLowerCase()));
    if (!named.has('accept')) { out.push('Accept: */*'); }
    for (const l of custom) { if (l.slice(l.indexOf(':') + 1).trim() !== '') { out.push(l); } }
    return out;
}

// array_merge($result, $headers, $reqHeaders): string keys in order, the numeric ones
// (the status line, then the request header lines) renumbered from 0.
function phpMerge(result, headers, reqHeaders) {
    const out = { ...result };
    const numeric = [];
    for (const [k, v] of Object.entries(headers)) { if (/^\d+$/.test(k)) { numeric.push(v); } else { out[k] = v; } }
    numeric.push(...reqHeaders);
    numeric.forEach((v, i) => { out[i] = v; });
    return out;
}

function serverVars(testerUrl) {
    const u = new URL(testerUrl);
    return {
        requestURI: u.pathname + u.search,
        Requesting_User_Agent: `Node.js ${process.version} (tracescan gs1-conformance runner)`,
        Requesting_Accept_Header: '*/*',
        Requesting_Accept_Language: '',
    };
}

async function getCustomHeaders(testerUrl, via, uri, mediaType, lang) {
    const reqHeaders = [PHP_ORIGIN_HEADER];
    if (mediaType !== null && mediaType !== undefined) { reqHeaders.push(`Accept: ${mediaType}`); }
    if (lang !== null && lang !== undefined) { reqHeaders.push(`Accept-Language: ${lang}`); }
    let res;
    try {
        res = await logged(via, testerUrl, binToUtf8(uri), 'GET', curlHeaders(reqHeaders));
    } catch (e) {
        return { error: `cURL error: ${e.message}` };
    }
    const raw = headerBlock(res);
    return phpMerge({ uri: binToUtf8(uri), httpCode: res.status, httpMsg: parseHttpStatusMessage(raw), ...serverVars(testerUrl) },
        parseHeadersToArray(raw), reqHeaders);
}

async function getCorsHeaders(testerUrl, uri) {
    const reqHeaders = [PHP_ORIGIN_HEADER, 'Access-Control-Request-Method: GET,HEAD,OPTIONS'];
    let res;
    try {
        res = await logged('tester.php getCorsHeaders', testerUrl, binToUtf8(uri), 'OPTIONS', curlHeaders(reqHeaders), { readBody: false });
    } catch (e) {
        return { error: `cURL error: ${e.message}` };
    }
    const raw = headerBlock(res);
    return phpMerge({ uri: binToUtf8(uri), httpCode: res.status, httpMsg: parseHttpStatusMessage(raw), ...serverVars(testerUrl) },
        parseHeadersToArray(raw), reqHeaders);
}

async function getLinkset(testerUrl, uri) {
    const reqHeaders = [PHP_ORIGIN_HEADER, 'Accept: application/linkset+json'];
    let res;
    try {
        res = await logged('tester.php getLinkset', testerUrl, binToUtf8(uri), 'GET', curlHeaders(reqHeaders));
    } catch (e) {
        return JSON.stringify({ error: `cURL error: ${e.message}` });
    }
    const raw = headerBlock(res);
    const encoded = rawurlencode(Buffer.concat([Buffer.from(raw, 'latin1'), res.body]));
    const cut = encoded.indexOf('%0D%0A%0D%0A');
    return JSON.stringify({
        uri: binToUtf8(uri),
        httpCode: res.status,
        httpMsg: parseHttpStatusMessage(raw),
        headers: parseHeadersToArray(raw),
        responseBody: encoded.substring(cut === -1 ? 12 : cut + 12),
    });
}

// getHttpVersion(): PHP's get_headers(), a GET by PHP's http stream wrapper (HTTP/1.1,
// no Accept); only the first status line is read, so no redirect is followed here.
async function getHttpVersion(testerUrl, url) {
    let res;
    try {
        res = await logged('tester.php getHTTPversion', testerUrl, binToUtf8(url), 'GET', ['Connection: close'], { readBody: false });
    } catch {
        return 'Failed to fetch headers for .';
    }
    const status = `HTTP/${res.version} ${res.status} ${res.statusText}`;
    if (status.includes('HTTP/1.1')) { return 'HTTP/1.1'; }
    if (status.includes('HTTP/2')) { return 'HTTP/2'; }
    return 'Unknown';
}

// handleApiRequest(): the whole of tester.php's API. PHP's own guard lets only https://
// test values through; this port lets through only what route() accepts (loopback, or
// the --origin mapped to --base), http or https.
async function testerPhp(testerUrl) {
    const query = new URL(testerUrl).search.slice(1);
    const params = phpParseStr(phpUrldecode(query));
    if (params.testVal !== undefined) {
        try {
            route(binToUtf8(params.testVal));
        } catch (e) {
            notes.push(`tester.php: test value ${binToUtf8(params.testVal)} ${e.message}`);
            params.testVal = null;
        }
    }
    const has = (k) => params[k] !== undefined && params[k] !== null;
    const utf = (v) => (v === null || v === undefined ? v : binToUtf8(v));
    if (!has('test')) { return { error: 'No valid command received' }; }
    const test = params.test;
    const head = { test: utf(test), testVal: utf(params.testVal) };
    if (test === 'getHTTPversion' && has('testVal')) {
        return { ...head, result: await getHttpVersion(testerUrl, params.testVal) };
    } else if (test === 'getAllHeaders' && has('testVal')) {
        return { ...head, result: await getCustomHeaders(testerUrl, 'tester.php getAllHeaders', params.testVal, params.mediaType ?? null, params.lang ?? null) };
    } else if (test === 'getLinksetHeaders' && has('testVal')) {
        return { ...head, result: await getCustomHeaders(testerUrl, 'tester.php getLinksetHeaders', params.testVal, 'application/linkset+json', '') };
    } else if (test === 'getLinkset' && has('testVal')) {
        return { ...head, result: (await getLinkset(testerUrl, params.testVal)).replace(/^"+|"+$/g, '') };
    } else if (test === 'getCorsHeaders' && has('testVal')) {
        return { ...head, result: await getCorsHeaders(testerUrl, params.testVal) };
    }
    return { error: 'Invalid test command' };
}

// ---------------------------------------------------------------- the browser's fetch

let suiteUrls = {};

function jsonResponse(text) {
    return new Response(text, { status: 200, headers: { 'content-type': 'application/json' } });
}

// A fetch from the suite's page (https://ref.gs1.org/test-suites/resolver/) to the
// server under test: redirects followed unless told otherwise, and in cors mode the
// answer is only handed over if it allows the page's origin, as a browser would.
async function browserRequest(url, method, headers, mode, redirect) {
    const lines = [];
    if (mode === 'cors') { lines.push(`Origin: ${PAGE_ORIGIN}`); }
    let accept = '*/*';
    for (const [n, v] of headers) {
        if (n.toLowerCase() === 'accept') { accept = v; } else { lines.push(`${n}: ${v}`); }
    }
    lines.unshift(`Accept: ${accept}`);
    let current = url;
    for (let hop = 0; hop <= 20; hop++) {
        const res = await logged('browser fetch', null, current, method, lines, { readBody: method !== 'HEAD' });
        if (mode === 'cors') {
            const acao = findHeader(res.rawHeaders, 'access-control-allow-origin');
            if (acao !== '*' && acao !== PAGE_ORIGIN) {
                throw new TypeError(`Failed to fetch (CORS: ${current} answered ${res.status} without Access-Control-Allow-Origin: * or ${PAGE_ORIGIN})`);
            }
        }
        const loc = findHeader(res.rawHeaders, 'location');
        if (redirect === 'follow' && [301, 302, 303, 307, 308].includes(res.status) && loc) {
            current = new URL(loc, current).href;
            if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) { method = 'GET'; }
            continue;
        }
        const nullBody = [101, 204, 205, 304].includes(res.status) || method === 'HEAD';
        const h = new Headers();
        for (const [n, v] of headerPairs(res.rawHeaders)) { try { h.append(n, v); } catch { /* not a valid header value for fetch */ } }
        const status = res.status >= 200 && res.status <= 599 ? res.status : 599;
        const r = new Response(nullBody ? null : res.body, { status, statusText: res.statusText, headers: h });
        Object.defineProperty(r, 'url', { value: current });
        return r;
    }
    throw new TypeError('Failed to fetch (too many redirects)');
}

async function suiteFetch(input, init = {}) {
    let url, method, headers, mode, redirect;
    if (input instanceof Request) {
        url = input.url; method = input.method; headers = [...input.headers]; mode = input.mode; redirect = input.redirect;
    } else {
        url = String(input);
        method = init.method ?? 'GET';
        headers = [...new Headers(init.headers ?? {})];
        mode = init.mode ?? 'cors';
        redirect = init.redirect ?? 'follow';
    }
    method = method.toUpperCase();
    const abs = new URL(url).href;
    if (abs.startsWith(suiteUrls.testUri + '?') || abs === suiteUrls.testUri) {
        inflight++;
        try {
            return jsonResponse(JSON.stringify(await testerPhp(abs)));
        } finally {
            inflight--;
        }
    }
    if (abs === suiteUrls.gs1LinksetSchema) {
        return jsonResponse(readFileSync(path.join(VENDOR, 'gs1-linkset-schema.json'), 'utf8'));
    }
    if (abs === suiteUrls.resolverDescriptionFileSchema) {
        if (rdSchemaText === null) {
            notes.push('the suite asked for GS1\'s description-file schema and none was given (--rd-schema FILE), so the description file cannot validate');
            throw new TypeError('Failed to fetch (no local copy of the description-file schema: pass --rd-schema FILE)');
        }
        return jsonResponse(rdSchemaText);
    }
    if (abs === suiteUrls.linkTypeListSource) {
        return jsonResponse(readFileSync(path.join(VENDOR, 'linktypes.json'), 'utf8'));
    }
    try {
        route(abs);
    } catch (e) {
        notes.push(`the suite tried to fetch ${abs}: ${e.message}`);
        throw new TypeError(`Failed to fetch (${e.message})`);
    }
    return browserRequest(abs, method, headers, mode, redirect);
}

// ---------------------------------------------------------------- a minimal DOM

class Node0 {
    constructor(tag) {
        this.tagName = tag; this.id = ''; this.className = ''; this.title = ''; this.href = '';
        this.style = {}; this.childNodes = []; this.parentNode = null; this._html = '';
    }
    appendChild(c) { c.parentNode?.removeChild?.(c); c.parentNode = this; this.childNodes.push(c); return c; }
    prepend(c) { c.parentNode?.removeChild?.(c); c.parentNode = this; this.childNodes.unshift(c); }
    removeChild(c) { this.childNodes = this.childNodes.filter((x) => x !== c); c.parentNode = null; return c; }
    remove() { this.parentNode?.removeChild(this); }
    set innerHTML(v) { this.childNodes = []; this._html = String(v); }
    get innerHTML() { return this._html; }
    get textContent() { return this._html + this.childNodes.map((c) => c.textContent ?? '').join(''); }
}

function makeDocument() {
    const roots = [new Node0('div'), new Node0('img')];
    roots[0].id = 'gs1ResolverTests';
    roots[1].id = 'rotatingcircle';
    const find = (n, id) => {
        if (n.id === id) { return n; }
        for (const c of n.childNodes ?? []) { const f = find(c, id); if (f) { return f; } }
        return null;
    };
    return {
        getElementById: (id) => { for (const r of roots) { const f = find(r, id); if (f) { return f; } } return null; },
        createElement: (tag) => new Node0(tag),
        createTextNode: (t) => ({ nodeType: 3, textContent: String(t) }),
    };
}

// ---------------------------------------------------------------- running the suite

const suiteLog = [];
function logFn(kind) {
    return (...args) => {
        const text = args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? a.message : (() => { try { return JSON.stringify(a); } catch { return String(a); } })())).join(' ');
        const isStack = /\n\s+at /.test(text) && !/^"?Error from test id/.test(text);
        suiteLog.push({ kind, text, isStack });
        if (opts.verbose) { process.stdout.write(`  [suite ${kind}] ${text}\n`); }
    };
}

const document = makeDocument();
const sandbox = {
    console: { log: logFn('log'), error: logFn('error'), warn: logFn('warn'), info: logFn('info'), debug: logFn('debug') },
    fetch: suiteFetch,
    Request, Headers, Response, URL, URLSearchParams, TextEncoder, TextDecoder,
    setTimeout, clearTimeout, queueMicrotask,
    document,
    location: { href: PAGE_URL, toString: () => PAGE_URL },
    navigator: { userAgent: `Node.js ${process.version}` },
    module: { exports: {} }, // the toolkit ends with `module.exports = GS1DigitalLinkToolkit;`
    __testObjects: [],
};
sandbox.window = sandbox;
sandbox.self = sandbox;
const context = vm.createContext(sandbox, { name: 'GS1 resolver test suite' });

for (const file of [ajvBundle, path.join(VENDOR, 'GS1DigitalLinkToolkit.js'), path.join(VENDOR, 'GS1DigitalLinkResolverTestSuite.js')]) {
    new vm.Script(readFileSync(file, 'utf8'), { filename: file }).runInContext(context);
}
suiteUrls = vm.runInContext('({testUri, resolverDescriptionFileSchema, gs1LinksetSchema, linkTypeListSource})', context);
// Every test object the suite creates passes through its recordResult(); keeping a
// reference to each (a test retried on a redirect target is a new object with the same
// id) lets the report tell which requests each one made.
vm.runInContext('(() => { const record = recordResult; recordResult = function (r) { __testObjects.push(r); return record(r); }; })()', context);
for (const k of Object.keys(suiteUrls)) { suiteUrls[k] = new URL(suiteUrls[k]).href; }

process.on('unhandledRejection', (e) => logFn('error')(`unhandled rejection: ${e?.stack ?? e}`));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const started = Date.now();
process.stdout.write(`GS1 resolver conformance suite (gs1/GS1DL-resolver-testsuite @ ${SUITE_COMMIT.slice(0, 12)})\n`);
process.stdout.write(`server under test: ${base.origin}${origin.origin !== base.origin ? ` (seen by the suite as ${origin.origin})` : ''}\n`);
process.stdout.write(`GS1 Digital Link URI under test: ${dlUnderTest}\n\n`);

let timedOut = false;
const deadline = sleep(opts.deadline * 1000).then(() => { timedOut = true; });
await Promise.race([vm.runInContext(`testDL(${JSON.stringify(dlUnderTest)})`, context), deadline]);
// TLSCheck() and rdFileCheck() are not awaited by testDL(): wait until nothing is in flight.
for (let quiet = 0; quiet < 3 && !timedOut;) {
    await Promise.race([sleep(50), deadline]);
    quiet = inflight === 0 ? quiet + 1 : 0;
}

// ---------------------------------------------------------------- the report

const results = vm.runInContext('resultsArray.map((r) => ({id: r.id, test: r.test, status: r.status, msg: r.msg, url: r.url}))', context);
const overall = document.getElementById('overallReport');

const norm = (u) => { try { return new URL(u).href; } catch { return u; } };
// Which requests each test made. The suite's test objects carry the tester.php URL they
// fetch; two tests can fetch the same one (the trailing-slash test and the default-link
// test both ask for the bare URI), so the n-th request to a URL goes to the n-th test
// object that names it (the last one takes any extra). A tester call that no test
// object names belongs to the test whose request came just before it (the
// trailing-slash test makes its second call that way). The browser's own requests are
// the TLS check (a HEAD of the bare origin) and the description file.
const claimed = new Set();
const byResult = new Map(results.map((r) => [r.id, []]));
const owners = new Map();
for (const t of [...new Set(sandbox.__testObjects)]) {
    if (!t.url) { continue; }
    const k = norm(t.url);
    if (!owners.has(k)) { owners.set(k, []); }
    owners.get(k).push(t.id);
}
const seen = new Map();
for (const e of exchanges) {
    let owner = null;
    if (e.testerUrl && owners.has(norm(e.testerUrl))) {
        const list = owners.get(norm(e.testerUrl));
        const n = seen.get(norm(e.testerUrl)) ?? 0;
        seen.set(norm(e.testerUrl), n + 1);
        owner = list[Math.min(n, list.length - 1)];
    } else if (e.via === 'browser fetch') {
        owner = e.method === 'HEAD' ? 'tlsOK' : /\/\.well-known\/gs1resolver/.test(e.url) ? 'rdFile' : null;
    } else {
        const prev = [...exchanges].reverse().find((p) => p.seq < e.seq && claimed.has(p));
        owner = prev ? prev.owner : null;
    }
    if (owner && byResult.has(owner)) { byResult.get(owner).push(e); claimed.add(e); e.owner = owner; }
}

function describeExchange(e, withVia = false) {
    const hdrs = e.requestHeaders.filter((h) => !/^(Origin|Connection):/i.test(h) && h !== 'Accept: */*');
    const req = `${e.method} ${e.url}${hdrs.length ? ` [${hdrs.join('; ')}]` : ''}`;
    let res;
    if (e.error) {
        res = `error: ${e.error}`;
    } else if (e.status === undefined) {
        res = 'no answer yet';
    } else {
        const pick = (e.responseHeaders ?? []).filter(([n]) => /^(location|link|content-type|access-control-allow-(origin|methods))$/i.test(n));
        res = `${e.status} ${e.statusText}${pick.map(([n, v]) => `; ${n}: ${v}`).join('')}`;
    }
    return `${withVia ? `(${e.via}) ` : ''}${req} -> ${res}`;
}

const stripTags = (s) => String(s).replace(/<[^>]+>/g, '');
const LABEL = { pass: 'PASS', fail: 'FAIL', warn: 'WARN' };
const counts = { pass: 0, fail: 0, warn: 0 };
for (const r of results) {
    counts[r.status] = (counts[r.status] ?? 0) + 1;
    process.stdout.write(`[${LABEL[r.status] ?? r.status}] ${r.id}: ${stripTags(r.test).trim()}\n`);
    process.stdout.write(`       ${stripTags(r.msg)}\n`);
    for (const e of byResult.get(r.id)) { process.stdout.write(`       ${describeExchange(e)}\n`); }
}
const unclaimed = exchanges.filter((e) => !claimed.has(e));
if (unclaimed.length) {
    process.stdout.write('\nrequests no test claimed:\n');
    for (const e of unclaimed) { process.stdout.write(`       ${describeExchange(e, true)}\n`); }
}
const shownLog = suiteLog.filter((l) => opts.verbose || !l.isStack);
if (shownLog.length && !opts.verbose) {
    process.stdout.write('\nsuite console output:\n');
    for (const l of shownLog) { process.stdout.write(`  ${l.kind}: ${l.text.split('\n')[0]}\n`); }
}
const uniqueNotes = [...new Set(notes)];
if (uniqueNotes.length) {
    process.stdout.write('\nrunner notes:\n');
    for (const n of uniqueNotes) { process.stdout.write(`  - ${n}\n`); }
}
if (timedOut) { process.stdout.write(`\nrunner: gave up after --deadline ${opts.deadline} s; the results above are those recorded by then\n`); }
const overallText = overall ? stripTags(overall.textContent).trim() : '';
process.stdout.write(`\nGS1 overall verdict: ${overallText || (overall ? overall.className : 'no critical issue reported')}\n`);
process.stdout.write(`${exchanges.length} requests in ${((Date.now() - started) / 1000).toFixed(1)} s; ${counts.warn} warnings\n`);
process.stdout.write(`gs1-conformance: ${counts.pass} passed, ${counts.fail} failed\n`);

if (opts.json) {
    writeFileSync(opts.json, JSON.stringify({
        suite: { repository: 'gs1/GS1DL-resolver-testsuite', commit: SUITE_COMMIT },
        base: base.origin, origin: origin.origin, dl: dlUnderTest,
        results: results.map((r) => ({ ...r, exchanges: byResult.get(r.id) })),
        unclaimed, suiteLog, notes: uniqueNotes, overall: overallText, timedOut,
        counts,
    }, null, 2) + '\n');
}

process.exit(counts.fail > 0 || timedOut || (opts.strict && counts.warn > 0) ? 1 : 0);
