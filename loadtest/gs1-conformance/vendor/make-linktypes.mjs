// Builds linktypes.json, the local stand-in for https://ref.gs1.org/voc/data/linktypes,
// from a GS1 Web Vocabulary JSON-LD file (github.com/gs1/WebVoc, vX.Y/gs1Voc.jsonld):
//
//   node make-linktypes.mjs path/to/gs1Voc.jsonld > linktypes.json
//
// A link type is a term whose rdfs:subPropertyOf is gs1:linkType. The output is an
// object keyed by the term's local name ("pip", "defaultLink", ...), which is all the
// suite reads (`list[name] === undefined`); each value carries the label, the comment
// and the term status.
import { readFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
    console.error('usage: node make-linktypes.mjs gs1Voc.jsonld > linktypes.json');
    process.exit(2);
}
const text = readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
const graph = JSON.parse(text)['@graph'];
const ids = (v) => (Array.isArray(v) ? v : v ? [v] : []).map((x) => (typeof x === 'string' ? x : x['@id']));
const value = (v) => {
    const all = Array.isArray(v) ? v : v ? [v] : [];
    const en = all.find((x) => typeof x === 'object' && x['@language'] === 'en') ?? all[0];
    return typeof en === 'object' ? en['@value'] : en;
};
const out = {};
for (const node of graph) {
    if (!ids(node['rdfs:subPropertyOf']).includes('gs1:linkType')) continue;
    if (typeof node['@id'] !== 'string' || !node['@id'].startsWith('gs1:')) continue;
    out[node['@id'].slice(4)] = {
        title: value(node['rdfs:label']) ?? null,
        description: value(node['rdfs:comment']) ?? null,
        status: node['sw:term_status'] ?? null,
    };
}
const sorted = Object.fromEntries(Object.keys(out).sort().map((k) => [k, out[k]]));
process.stdout.write(JSON.stringify(sorted, null, 2) + '\n');
