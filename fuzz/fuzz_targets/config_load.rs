//! `cairn.toml` loading: any text is a config or an error, never a panic; a config that loads
//! compiles to a lineage or says why not.
#![no_main]

use cairn_core::config::Config;
use cairn_core::lineage::Lineage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::from_toml_str(text) {
        let _ = Lineage::compile(&config.streams);
        let _ = config.with_streams_from_toml(text);
    }
});
