//! The scan-code parser on any text: it must answer, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracescan::code;

fuzz_target!(|data: &[u8]| {
    // The parser takes `&str`; HTTP hands it decoded UTF-8 only.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // `parse` tries compressed Digital Links too; a request path reaches
    // decompression without it.
    let _ = code::parse(text);
    let _ = code::reads_as_stamp(text);
    let (path, query) = match text.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (text, None),
    };
    let _ = code::decompress_path(path, query);
});
