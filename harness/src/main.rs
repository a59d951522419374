use clap::Parser;

fn main() {
    let cli = cln_harness::cli::Cli::parse();
    std::process::exit(cln_harness::cli::main_with_args(cli));
}
