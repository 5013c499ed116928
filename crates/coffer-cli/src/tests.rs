//! Unit tests of the command line's definition.

#[test]
fn cli_definition_is_consistent() {
    use clap::CommandFactory;
    crate::cli::Cli::command().debug_assert();
}
