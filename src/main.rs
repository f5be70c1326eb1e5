fn main() -> std::process::ExitCode {
    rangesync::cli::main()
}
