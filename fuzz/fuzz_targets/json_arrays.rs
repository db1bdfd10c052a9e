//! ECS parameters that carry a JSON array of strings in one value (`KeyPairNames`,
//! `InstanceIds`), read by `shape::json_string_array`. The input is the parameter's value.
//!
//! Properties: no panic; an accepted value is an array of strings by serde_json's untyped
//! reading too, with the same strings in the same order; and the strings written back as JSON
//! are accepted again as the same list (that text is never longer than the input, so no length
//! limit can refuse it).
#![no_main]

use keypaird_api::aliyun::shape::json_string_array;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let Some(strings) = json_string_array(value) else {
        return;
    };
    let untyped: Value = serde_json::from_str(value).expect("accepted text is JSON");
    let Value::Array(items) = untyped else {
        panic!("accepted a JSON value that is not an array");
    };
    let items: Vec<&str> = items
        .iter()
        .map(|item| {
            item.as_str()
                .expect("accepted an array item that is not a string")
        })
        .collect();
    assert_eq!(items, strings);

    let written = serde_json::to_string(&strings).expect("strings serialise");
    assert!(written.len() <= value.len(), "{written:?} from {value:?}");
    assert_eq!(json_string_array(&written), Some(strings));
});
