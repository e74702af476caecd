//! `_X_AMZN_TRACE_ID` follows each invocation's trace header. A test binary of its own: it
//! changes the process environment, which no other test may read meanwhile.

use hover_core::runtime::export_trace_id;

#[test]
fn the_trace_id_is_exported_and_a_stale_one_cleared() {
    let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    export_trace_id(Some(trace));
    assert_eq!(std::env::var("_X_AMZN_TRACE_ID").as_deref(), Ok(trace));
    export_trace_id(None);
    assert!(std::env::var_os("_X_AMZN_TRACE_ID").is_none());
    export_trace_id(Some("bad\0id"));
    assert!(
        std::env::var_os("_X_AMZN_TRACE_ID").is_none(),
        "a value the environment cannot hold is dropped"
    );
}
