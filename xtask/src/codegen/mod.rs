//! `cargo xtask codegen`: Rust types for every vendored CloudFormation resource schema.
//!
//! Input: `brain2-iac/schemas/*.json`. Output: `brain2-iac/src/aws/`, one module per service
//! and one file per resource type, plus a registry of each type's create-only properties.
//! The output depends only on the schemas (and rustfmt), so it is reproducible byte for byte.

pub mod emit;
pub mod model;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// Where the schemas live, relative to the workspace root.
pub const SCHEMAS_DIR: &str = "brain2-iac/schemas";
/// Curated additions to the schemas (create-only properties they miss), beside them.
pub const OVERRIDES_FILE: &str = "overrides.json";
/// Where generated code goes, relative to the workspace root.
pub const OUTPUT_DIR: &str = "brain2-iac/src/aws";

/// Formats Rust source with the workspace's rustfmt settings, as `cargo fmt` would.
pub fn rustfmt(source: &str, workspace: &Path) -> Result<String> {
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout", "--config-path"])
        .arg(workspace.join("rustfmt.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running rustfmt; install it with `rustup component add rustfmt`")?;
    child.stdin.take().expect("stdin is piped").write_all(source.as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!("rustfmt rejected generated code:\n{}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8(output.stdout)?)
}

/// The schema files, sorted by name.
pub fn schema_files(workspace: &Path) -> Result<Vec<PathBuf>> {
    let dir = workspace.join(SCHEMAS_DIR);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    files.retain(|path| path.extension().is_some_and(|ext| ext == "json") && !path.ends_with(OVERRIDES_FILE));
    files.sort();
    Ok(files)
}

/// The generated Rust for one schema, formatted.
pub fn generate_resource(schema: &serde_json::Value, schema_file: &str, workspace: &Path) -> Result<String> {
    let model = model::build(schema)?;
    rustfmt(&emit::resource_module(&model, schema_file), workspace)
}

/// Reads `schemas/overrides.json`: type name → extra create-only property pointers.
fn read_overrides(workspace: &Path) -> Result<BTreeMap<String, Vec<String>>> {
    let path = workspace.join(SCHEMAS_DIR).join(OVERRIDES_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(BTreeMap::new()) };
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))?;
    let mut overrides = BTreeMap::new();
    for (type_name, entry) in json.as_object().into_iter().flatten().filter(|(k, _)| !k.starts_with('$')) {
        let pointers = entry["createOnlyProperties"]
            .as_array()
            .with_context(|| format!("{}: {type_name}.createOnlyProperties must be a list", path.display()))?
            .iter()
            .map(|p| {
                p.as_str()
                    .map(str::to_owned)
                    .with_context(|| format!("{}: {type_name}: pointers are strings", path.display()))
            })
            .collect::<Result<Vec<_>>>()?;
        overrides.insert(type_name.clone(), pointers);
    }
    Ok(overrides)
}

fn apply_overrides(model: &mut model::ResourceModel, overrides: &BTreeMap<String, Vec<String>>) {
    for pointer in overrides.get(&model.type_name).into_iter().flatten() {
        if !model.create_only.contains(pointer) {
            model.create_only.push(pointer.clone());
        }
    }
}

/// Every generated file, by path relative to the workspace root.
pub fn generate(workspace: &Path) -> Result<BTreeMap<PathBuf, String>> {
    let mut files = BTreeMap::new();
    let overrides = read_overrides(workspace)?;
    // service module → (resource module, struct name, type name)
    let mut services: BTreeMap<String, Vec<(String, String, String)>> = BTreeMap::new();
    for path in schema_files(workspace)? {
        let file_name = path.file_name().and_then(|n| n.to_str()).context("schema file name is not UTF-8")?;
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let schema: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))?;
        let mut model = model::build(&schema).with_context(|| format!("generating code for {}", path.display()))?;
        apply_overrides(&mut model, &overrides);
        let expected_file = format!("{}.json", model.type_name.to_lowercase().replace("::", "-"));
        if file_name != expected_file {
            bail!("{} holds {}; name it {expected_file}", path.display(), model.type_name);
        }
        let source = rustfmt(&emit::resource_module(&model, file_name), workspace)
            .with_context(|| format!("formatting the code for {}", path.display()))?;
        let out = Path::new(OUTPUT_DIR).join(&model.service_module).join(format!("{}.rs", model.resource_module));
        files.insert(out, source);
        services.entry(model.service_module.clone()).or_default().push((
            model.resource_module.clone(),
            model.struct_name().to_owned(),
            model.type_name.clone(),
        ));
    }

    let header = "// @generated by `cargo xtask codegen`. Do not edit.\n";
    for (service, resources) in &services {
        let mut text = format!("{header}//! Resource types of AWS {service}.\n\n");
        for (module, _, _) in resources {
            text.push_str(&format!("pub mod {module};\n"));
        }
        text.push('\n');
        for (module, name, _) in resources {
            text.push_str(&format!("pub use {module}::{name};\n"));
        }
        files.insert(Path::new(OUTPUT_DIR).join(service).join("mod.rs"), rustfmt(&text, workspace)?);
    }

    let mut root = format!(
        "{header}//! Typed CloudFormation resources, generated from AWS's resource provider schemas in\n\
         //! `brain2-iac/schemas/`. Required properties are plain values, optional ones `Option`s.\n\n"
    );
    for service in services.keys() {
        root.push_str(&format!("pub mod {service};\n"));
    }
    let all: Vec<&(String, String, String)> = services.values().flatten().collect();
    root.push_str("\nuse crate::cfn::Resource;\n\n/// Every resource type with generated code.\npub const RESOURCE_TYPES: &[&str] = &[\n");
    let mut type_names: Vec<&str> = all.iter().map(|(_, _, t)| t.as_str()).collect();
    type_names.sort();
    for type_name in &type_names {
        root.push_str(&format!("{type_name:?},\n"));
    }
    root.push_str("];\n\n/// The create-only properties (JSON pointers) of a resource type: changing one replaces the\n/// resource. `None` for a type without generated code.\npub fn create_only_properties(type_name: &str) -> Option<&'static [&'static str]> {\nmatch type_name {\n");
    for (service, resources) in &services {
        for (_, name, type_name) in resources {
            root.push_str(&format!("{type_name:?} => Some({service}::{name}::CREATE_ONLY_PROPERTIES),\n"));
        }
    }
    root.push_str("_ => None,\n}\n}\n");
    files.insert(Path::new(OUTPUT_DIR).join("mod.rs"), rustfmt(&root, workspace)?);
    Ok(files)
}

/// Files under the output folder that the generator would not write.
fn stale_files(workspace: &Path, generated: &BTreeMap<PathBuf, String>) -> Result<Vec<PathBuf>> {
    let mut stale = Vec::new();
    let mut pending = vec![workspace.join(OUTPUT_DIR)];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(workspace)?.to_path_buf();
                if !generated.contains_key(&relative) {
                    stale.push(relative);
                }
            }
        }
    }
    stale.sort();
    Ok(stale)
}

/// The paths whose checked-in content differs from what codegen makes, including leftovers.
pub fn out_of_date(workspace: &Path) -> Result<Vec<PathBuf>> {
    let generated = generate(workspace)?;
    let mut differing: Vec<PathBuf> = generated
        .iter()
        .filter(|(path, text)| std::fs::read_to_string(workspace.join(path)).ok().as_deref() != Some(text.as_str()))
        .map(|(path, _)| path.clone())
        .collect();
    differing.extend(stale_files(workspace, &generated)?);
    Ok(differing)
}

/// Writes the generated code and removes files the schemas no longer produce.
/// Returns (written, removed) counts.
pub fn write(workspace: &Path) -> Result<(usize, usize)> {
    let generated = generate(workspace)?;
    let stale = stale_files(workspace, &generated)?;
    let mut written = 0;
    for (path, text) in &generated {
        let full = workspace.join(path);
        if std::fs::read_to_string(&full).ok().as_deref() == Some(text.as_str()) {
            continue;
        }
        std::fs::create_dir_all(full.parent().expect("generated paths have a parent"))?;
        // Write beside and rename, so an interrupted run never leaves half a file.
        let temporary = full.with_extension("rs.tmp");
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, &full)?;
        written += 1;
    }
    for path in &stale {
        std::fs::remove_file(workspace.join(path))?;
    }
    Ok((written, stale.len()))
}

/// Copies the schema of each type from cfn-lint's bundled data into `brain2-iac/schemas/`.
pub fn vendor(workspace: &Path, cfn_lint_data: &Path, type_names: &[String]) -> Result<Vec<PathBuf>> {
    let map_path = cfn_lint_data.join("schemas/providers/us-east-1.json");
    let map_text = std::fs::read_to_string(&map_path).with_context(|| {
        format!("reading cfn-lint's provider map {}; is the pinned cfn-lint installed?", map_path.display())
    })?;
    let map: BTreeMap<String, String> = serde_json::from_str(&map_text)?;
    let mut written = Vec::new();
    for type_name in type_names {
        let hash = map.get(type_name).with_context(|| {
            format!("cfn-lint has no schema for {type_name:?}; check the spelling (AWS::Service::Resource)")
        })?;
        let source = cfn_lint_data.join("schemas/resources").join(format!("{hash}.json"));
        let target = workspace.join(SCHEMAS_DIR).join(format!("{}.json", type_name.to_lowercase().replace("::", "-")));
        std::fs::copy(&source, &target).with_context(|| format!("copying {}", source.display()))?;
        written.push(target);
    }
    Ok(written)
}
