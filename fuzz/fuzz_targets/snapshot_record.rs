//! The snapshot line parsers on any bytes: a bad line is a rejection, never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracescan::snapshot::record;

fuzz_target!(|data: &[u8]| {
    let _ = record::product(data);
    let _ = record::batch(data);
    if let Ok(item) = record::item(data) {
        // The build names items in reports.
        let _ = item.key();
    }
});
