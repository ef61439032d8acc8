//! From one resource provider schema to a small model of the Rust to emit.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result, bail};
use heck::{ToSnakeCase, ToUpperCamelCase};
use serde_json::Value as JsonValue;

/// The type of a property, as it will appear inside `cfn::Value<…>`.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    String,
    Integer,
    Number,
    Boolean,
    /// Free-form JSON (policy documents, `["object", "string"]` and the like).
    Json,
    Enum(String),
    Struct {
        name: String,
        boxed: bool,
    },
    List(Box<Ty>),
    Map(Box<Ty>),
}

#[derive(Debug, Clone)]
pub struct Field {
    /// The property name in the template.
    pub json_name: String,
    pub rust_name: String,
    pub ty: Ty,
    pub required: bool,
    pub doc: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StructDef {
    pub name: String,
    /// Named after a schema definition (rather than after the property holding it inline).
    pub from_definition: bool,
    pub doc: Option<String>,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone)]
pub struct EnumDef {
    pub name: String,
    pub doc: Option<String>,
    /// (variant, value in the template)
    pub variants: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Attribute {
    /// `Fn::GetAtt` name, `A.B` for nested ones.
    pub name: String,
    pub method: String,
    pub ty: Ty,
}

#[derive(Debug, Clone)]
pub struct ResourceModel {
    pub type_name: String,
    pub service_module: String,
    pub resource_module: String,
    pub doc: Option<String>,
    /// The resource's own properties struct; `structs[0]`.
    pub structs: Vec<StructDef>,
    pub enums: Vec<EnumDef>,
    pub attributes: Vec<Attribute>,
    pub create_only: Vec<String>,
}

impl ResourceModel {
    pub fn struct_name(&self) -> &str {
        &self.structs[0].name
    }
}

/// Names generated code must not shadow, and methods `Handle` already has.
const RESERVED_TYPE_NAMES: &[&str] =
    &["BTreeMap", "Box", "Expr", "Handle", "Json", "Option", "Resource", "Self", "String", "ToJson", "Value", "Vec"];
const HANDLE_METHODS: &[&str] = &["get_att", "logical_id", "ref_", "resource_id", "stack", "clone", "eq"];
const RUST_KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern", "false", "fn", "for", "if",
    "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "static", "struct", "trait",
    "true", "type", "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "gen", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// A snake_case identifier that compiles: keywords become raw identifiers.
pub fn field_ident(name: &str) -> String {
    let snake = name.to_snake_case();
    let snake =
        if snake.is_empty() || snake.starts_with(|c: char| c.is_ascii_digit()) { format!("p_{snake}") } else { snake };
    match snake.as_str() {
        "self" | "super" | "crate" | "new" => format!("{snake}_"),
        s if RUST_KEYWORDS.contains(&s) => format!("r#{snake}"),
        _ => snake,
    }
}

/// The first paragraph of a schema description, on one line, safe for `///`.
pub fn doc_text(node: &JsonValue) -> Option<String> {
    let text = node.get("description")?.as_str()?;
    let paragraph = text.split("\n\n").next().unwrap_or(text);
    let one_line = paragraph.split_whitespace().collect::<Vec<_>>().join(" ").replace("```", "`");
    (!one_line.is_empty()).then_some(one_line)
}

fn enum_variant(value: &str) -> String {
    let camel = value.to_upper_camel_case();
    if camel.is_empty() {
        "Empty".to_owned()
    } else if camel.starts_with(|c: char| c.is_ascii_digit()) {
        format!("V{camel}")
    } else {
        camel
    }
}

struct Builder<'a> {
    schema: &'a JsonValue,
    definitions: BTreeMap<String, JsonValue>,
    /// Resolved definitions, by definition name.
    resolved: BTreeMap<String, Ty>,
    /// Definitions being resolved right now (recursion).
    in_progress: BTreeMap<String, String>,
    used_names: BTreeSet<String>,
    /// Names of the structs whose fields are being resolved, innermost last: a name that is
    /// taken is retried with the parent's name in front before falling back to a number.
    parents: Vec<String>,
    structs: Vec<StructDef>,
    enums: Vec<EnumDef>,
}

impl Builder<'_> {
    fn claim_name(&mut self, wanted: &str) -> String {
        let base = wanted.to_upper_camel_case();
        let base = if base.is_empty() { "Unnamed".to_owned() } else { base };
        let mut name = base.clone();
        if RESERVED_TYPE_NAMES.contains(&name.as_str()) {
            name = format!("{base}Property");
        }
        if self.used_names.contains(&name)
            && let Some(parent) = self.parents.last()
        {
            let prefixed = format!("{parent}{base}");
            if !self.used_names.contains(&prefixed) {
                name = prefixed;
            }
        }
        let mut n = 2;
        while self.used_names.contains(&name) {
            name = format!("{base}{n}");
            n += 1;
        }
        self.used_names.insert(name.clone());
        name
    }

    fn resolve_ref(&mut self, reference: &str) -> Result<Ty> {
        let def = reference
            .strip_prefix("#/definitions/")
            .with_context(|| format!("unsupported $ref {reference:?}: only #/definitions/ is understood"))?;
        if let Some(ty) = self.resolved.get(def) {
            return Ok(ty.clone());
        }
        if let Some(name) = self.in_progress.get(def) {
            return Ok(Ty::Struct { name: name.clone(), boxed: false });
        }
        let node = self.definitions.get(def).cloned().with_context(|| format!("$ref to missing definition {def:?}"))?;
        let ty = self.resolve(&node, def, true)?;
        self.resolved.insert(def.to_owned(), ty.clone());
        Ok(ty)
    }

    /// The type of a schema node. `hint` names any struct or enum it defines; `is_definition`
    /// says the node is a whole definition, whose name is then used as is.
    fn resolve(&mut self, node: &JsonValue, hint: &str, is_definition: bool) -> Result<Ty> {
        if let Some(reference) = node.get("$ref").and_then(JsonValue::as_str) {
            return self.resolve_ref(reference);
        }
        let has_shape = node.get("type").is_some() || node.get("properties").is_some() || node.get("enum").is_some();
        if !has_shape {
            for key in ["oneOf", "anyOf"] {
                if let Some(alternatives) = node.get(key).and_then(JsonValue::as_array) {
                    // cfn-lint adds a free-form JSON alternative next to the typed one; keep the typed one.
                    let typed: Vec<&JsonValue> = alternatives
                        .iter()
                        .filter(|alt| alt.get("format").and_then(JsonValue::as_str) != Some("json"))
                        .filter(|alt| alt.get("$ref").is_some() || alt.get("type").is_some())
                        .collect();
                    return match typed.as_slice() {
                        [one] => self.resolve(one, hint, is_definition),
                        _ => Ok(Ty::Json),
                    };
                }
            }
            return Ok(Ty::Json);
        }
        let kind = match node.get("type") {
            Some(JsonValue::String(kind)) => kind.as_str(),
            Some(JsonValue::Array(_)) => return Ok(Ty::Json),
            Some(other) => bail!("unsupported type {other} in {hint}"),
            None if node.get("properties").is_some() => "object",
            None => "string",
        };
        Ok(match kind {
            "string" => match node.get("enum").and_then(JsonValue::as_array) {
                Some(values) if !values.is_empty() && values.iter().all(JsonValue::is_string) => {
                    let name = self.claim_name(hint);
                    let mut variants: Vec<(String, String)> = Vec::new();
                    for value in values.iter().filter_map(JsonValue::as_str) {
                        if variants.iter().any(|(_, v)| v == value) {
                            continue;
                        }
                        let mut variant = enum_variant(value);
                        let mut n = 2;
                        while variants.iter().any(|(v, _)| *v == variant) {
                            variant = format!("{}{n}", enum_variant(value));
                            n += 1;
                        }
                        variants.push((variant, value.to_owned()));
                    }
                    self.enums.push(EnumDef { name: name.clone(), doc: doc_text(node), variants });
                    Ty::Enum(name)
                }
                _ => Ty::String,
            },
            "integer" => Ty::Integer,
            "number" => Ty::Number,
            "boolean" => Ty::Boolean,
            "array" => match node.get("items") {
                Some(items) if is_definition && is_inline_object(items) => {
                    // An array definition of inline objects: the items take the definition's name.
                    Ty::List(Box::new(self.resolve(items, hint, true)?))
                }
                Some(items) => Ty::List(Box::new(self.resolve(items, &singular(hint), false)?)),
                None => Ty::List(Box::new(Ty::Json)),
            },
            "object" => {
                let properties = node.get("properties").and_then(JsonValue::as_object);
                if let Some(properties) = properties.filter(|p| !p.is_empty()) {
                    let required = required_set(node);
                    if !is_definition {
                        // cfn-lint inlines copies of definitions; an identical struct is reused.
                        let fields = self.fields(hint, properties, &required, &BTreeSet::new())?;
                        if let Some(same) = self.structs.iter().find(|s| same_fields(&s.fields, &fields)) {
                            return Ok(Ty::Struct { name: same.name.clone(), boxed: false });
                        }
                        let name = self.claim_name(hint);
                        self.structs.push(StructDef {
                            name: name.clone(),
                            from_definition: false,
                            doc: doc_text(node),
                            fields,
                        });
                        return Ok(Ty::Struct { name, boxed: false });
                    }
                    let name = self.claim_name(hint);
                    self.in_progress.insert(hint.to_owned(), name.clone());
                    let fields = self.fields(&name, properties, &required, &BTreeSet::new())?;
                    self.in_progress.remove(hint);
                    self.structs.push(StructDef {
                        name: name.clone(),
                        from_definition: true,
                        doc: doc_text(node),
                        fields,
                    });
                    Ty::Struct { name, boxed: false }
                } else if let Some(patterns) = node.get("patternProperties").and_then(JsonValue::as_object) {
                    match patterns.values().collect::<Vec<_>>().as_slice() {
                        [value] => Ty::Map(Box::new(self.resolve(value, &format!("{hint}Value"), false)?)),
                        _ => Ty::Json,
                    }
                } else {
                    Ty::Json
                }
            }
            other => bail!("unsupported type {other:?} in {hint}"),
        })
    }

    fn fields(
        &mut self,
        parent: &str,
        properties: &serde_json::Map<String, JsonValue>,
        required: &BTreeSet<String>,
        skip: &BTreeSet<String>,
    ) -> Result<Vec<Field>> {
        let mut fields = Vec::new();
        let mut idents = BTreeSet::new();
        self.parents.push(parent.to_upper_camel_case());
        // Sorted, whatever order the schema file (or serde_json's map) keeps.
        let mut sorted: Vec<(&String, &JsonValue)> = properties.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        for (json_name, node) in sorted {
            if skip.contains(json_name) {
                continue;
            }
            let ty = match self.resolve(node, json_name, false) {
                Ok(ty) => ty,
                Err(error) => {
                    self.parents.pop();
                    return Err(error.context(format!("property {json_name}")));
                }
            };
            let mut rust_name = field_ident(json_name);
            let mut n = 2;
            while idents.contains(&rust_name) {
                rust_name = format!("{}_{n}", field_ident(json_name).trim_start_matches("r#"));
                n += 1;
            }
            idents.insert(rust_name.clone());
            fields.push(Field {
                json_name: json_name.clone(),
                rust_name,
                ty,
                required: required.contains(json_name),
                doc: doc_text(node),
            });
        }
        self.parents.pop();
        Ok(fields)
    }

    /// The type at a `/properties/A/B` path, for read-only attributes.
    fn type_at(&mut self, path: &[&str]) -> Option<Ty> {
        let mut node = self.schema.get("properties")?.get(path[0])?.clone();
        for segment in &path[1..] {
            node = self.deref(node)?;
            node = node.get("properties")?.get(*segment)?.clone();
        }
        let node = self.deref(node)?;
        match node.get("type").and_then(JsonValue::as_str) {
            Some("string") => Some(Ty::String),
            Some("integer") => Some(Ty::Integer),
            Some("number") => Some(Ty::Number),
            Some("boolean") => Some(Ty::Boolean),
            Some("array") => match node.get("items").cloned().and_then(|items| self.deref(items)) {
                Some(items) if items.get("type").and_then(JsonValue::as_str) == Some("string") => {
                    Some(Ty::List(Box::new(Ty::String)))
                }
                _ => None,
            },
            None if node.get("properties").is_none() => Some(Ty::String),
            _ => None,
        }
    }

    fn deref(&self, node: JsonValue) -> Option<JsonValue> {
        match node.get("$ref").and_then(JsonValue::as_str) {
            Some(reference) => self.definitions.get(reference.strip_prefix("#/definitions/")?).cloned(),
            None => Some(node),
        }
    }
}

/// The name for one item of a list property: `Architectures` → `Architecture`.
fn singular(plural: &str) -> String {
    match plural.strip_suffix('s') {
        Some(stem) if !stem.ends_with('s') && stem.len() > 2 => stem.to_owned(),
        _ => format!("{plural}Item"),
    }
}

fn same_fields(a: &[Field], b: &[Field]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| x.json_name == y.json_name && x.ty == y.ty && x.required == y.required)
}

fn is_inline_object(node: &JsonValue) -> bool {
    node.get("$ref").is_none() && node.get("properties").and_then(JsonValue::as_object).is_some_and(|p| !p.is_empty())
}

fn required_set(node: &JsonValue) -> BTreeSet<String> {
    node.get("required")
        .and_then(JsonValue::as_array)
        .map(|items| items.iter().filter_map(JsonValue::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

fn string_list(schema: &JsonValue, key: &str) -> Vec<String> {
    schema
        .get(key)
        .and_then(JsonValue::as_array)
        .map(|items| items.iter().filter_map(JsonValue::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// `AWS::DynamoDB::Table` → (`dynamodb`, `table`, `Table`).
pub fn names_for(type_name: &str) -> Result<(String, String, String)> {
    let parts: Vec<&str> = type_name.split("::").collect();
    let [_, service, resource] = parts.as_slice() else {
        bail!("type name {type_name:?} is not of the form AWS::Service::Resource");
    };
    Ok((service.to_lowercase(), resource.to_snake_case(), resource.to_upper_camel_case()))
}

/// Builds the model of one schema.
pub fn build(schema: &JsonValue) -> Result<ResourceModel> {
    let type_name = schema.get("typeName").and_then(JsonValue::as_str).context("schema has no typeName")?.to_owned();
    let (service_module, resource_module, struct_name) = names_for(&type_name)?;
    let definitions = schema
        .get("definitions")
        .and_then(JsonValue::as_object)
        .map(|defs| defs.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let mut builder = Builder {
        schema,
        definitions,
        resolved: BTreeMap::new(),
        in_progress: BTreeMap::new(),
        used_names: BTreeSet::from([struct_name.clone()]),
        parents: Vec::new(),
        structs: Vec::new(),
        enums: Vec::new(),
    };

    // Definitions first, so their names win over inline copies of them, which then reuse them.
    let definition_names: Vec<String> = builder.definitions.keys().cloned().collect();
    for name in definition_names {
        builder.resolve_ref(&format!("#/definitions/{name}")).with_context(|| format!("definition {name}"))?;
    }

    let read_only = string_list(schema, "readOnlyProperties");
    let top_level_read_only: BTreeSet<String> = read_only
        .iter()
        .filter_map(|path| path.strip_prefix("/properties/"))
        .filter(|rest| !rest.contains('/'))
        .map(str::to_owned)
        .collect();
    let properties = schema.get("properties").and_then(JsonValue::as_object).context("schema has no properties")?;
    let fields = builder.fields(&struct_name, properties, &required_set(schema), &top_level_read_only)?;

    let mut attributes = Vec::new();
    let mut methods = BTreeSet::new();
    for path in &read_only {
        let Some(rest) = path.strip_prefix("/properties/") else { continue };
        let segments: Vec<&str> = rest.split('/').collect();
        // Paths through arrays (`/*/`) are not attributes GetAtt can read.
        if segments.contains(&"*") {
            continue;
        }
        let Some(ty) = builder.type_at(&segments) else { continue };
        let mut method = field_ident(&segments.join("_")).trim_start_matches("r#").to_owned();
        if HANDLE_METHODS.contains(&method.as_str()) || RUST_KEYWORDS.contains(&method.as_str()) {
            method = format!("{method}_attr");
        }
        if methods.insert(method.clone()) {
            attributes.push(Attribute { name: segments.join("."), method, ty });
        }
    }

    let mut structs = vec![StructDef { name: struct_name, from_definition: true, doc: doc_text(schema), fields }];
    structs.extend(std::mem::take(&mut builder.structs));
    let mut enums = builder.enums;
    merge_duplicates(&mut structs, &mut enums);
    box_recursive_fields(&mut structs);
    structs[1..].sort_by(|a, b| a.name.cmp(&b.name));
    enums.sort_by(|a, b| a.name.cmp(&b.name));

    Ok(ResourceModel {
        type_name,
        service_module,
        resource_module,
        doc: doc_text(schema),
        structs,
        enums,
        attributes,
        create_only: string_list(schema, "createOnlyProperties"),
    })
}

fn rename_in(ty: &mut Ty, renames: &BTreeMap<String, String>) {
    match ty {
        Ty::Struct { name, .. } | Ty::Enum(name) => {
            if let Some(new) = renames.get(name) {
                *name = new.clone();
            }
        }
        Ty::List(item) | Ty::Map(item) => rename_in(item, renames),
        _ => {}
    }
}

fn base_name(name: &str) -> &str {
    name.trim_end_matches(|c: char| c.is_ascii_digit())
}

/// cfn-lint's schemas repeat definitions inline, and properties of the same name often share an
/// enum. Identical structs collapse into one (a definition's name wins), as do identical enums
/// whose names differ only by the numeric suffix added to keep them apart.
fn merge_duplicates(structs: &mut Vec<StructDef>, enums: &mut Vec<EnumDef>) {
    loop {
        let mut renames = BTreeMap::new();
        for (i, a) in structs.iter().enumerate().skip(1) {
            for b in structs.iter().skip(i + 1) {
                // Two definitions stay apart even when alike: their names say different things.
                let an_inline_copy = !(a.from_definition && b.from_definition);
                if an_inline_copy && same_fields(&a.fields, &b.fields) && !renames.contains_key(&a.name) {
                    let (keep, drop) = if b.from_definition && !a.from_definition { (b, a) } else { (a, b) };
                    renames.entry(drop.name.clone()).or_insert_with(|| keep.name.clone());
                }
            }
        }
        for (i, a) in enums.iter().enumerate() {
            for b in enums.iter().skip(i + 1) {
                if a.variants == b.variants && base_name(&a.name) == base_name(&b.name) {
                    renames.entry(b.name.clone()).or_insert_with(|| a.name.clone());
                }
            }
        }
        // Only rename to names that are themselves kept.
        let targets: BTreeSet<String> = renames.values().cloned().collect();
        renames.retain(|from, _| !targets.contains(from));
        if renames.is_empty() {
            return;
        }
        structs.retain(|s| !renames.contains_key(&s.name));
        enums.retain(|e| !renames.contains_key(&e.name));
        for def in structs.iter_mut() {
            for field in &mut def.fields {
                rename_in(&mut field.ty, &renames);
            }
        }
    }
}

/// A struct that contains itself through plain (not list or map) fields would have infinite
/// size; box every such field that closes a cycle.
fn box_recursive_fields(structs: &mut [StructDef]) {
    let direct: BTreeMap<String, BTreeSet<String>> = structs
        .iter()
        .map(|s| {
            let targets = s
                .fields
                .iter()
                .filter_map(|f| match &f.ty {
                    Ty::Struct { name, .. } => Some(name.clone()),
                    _ => None,
                })
                .collect();
            (s.name.clone(), targets)
        })
        .collect();
    let reaches = |from: &str, to: &str| {
        let mut stack = vec![from.to_owned()];
        let mut seen = BTreeSet::new();
        while let Some(current) = stack.pop() {
            if current == to {
                return true;
            }
            if seen.insert(current.clone()) {
                stack.extend(direct.get(&current).into_iter().flatten().cloned());
            }
        }
        false
    };
    for def in structs.iter_mut() {
        for field in &mut def.fields {
            if let Ty::Struct { name, boxed } = &mut field.ty
                && reaches(name, &def.name)
            {
                *boxed = true;
            }
        }
    }
}
