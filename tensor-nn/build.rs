//! Build script: with the `mpi` feature, compiles the C shim that hands `MPI_IN_PLACE` to Rust
//! (its value differs between MPI implementations and the `mpi` crate does not export it).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "mpi")]
    {
        println!("cargo:rerun-if-changed=src/distributed/in_place.c");
        println!("cargo:rerun-if-env-changed=MPICC");
        let mpicc = std::env::var("MPICC").unwrap_or_else(|_| "mpicc".to_string());
        cc::Build::new()
            .compiler(mpicc)
            .file("src/distributed/in_place.c")
            .compile("dimflow_mpi_shim");
    }
}
