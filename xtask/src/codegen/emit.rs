//! Rust source text from the model. The text is formatted by rustfmt afterwards.

use std::fmt::Write;

use super::model::{EnumDef, Field, ResourceModel, StructDef, Ty};

/// The type inside `cfn::Value<…>` for a field of type `ty`.
fn inner(ty: &Ty) -> String {
    match ty {
        Ty::String => "String".to_owned(),
        Ty::Integer => "i64".to_owned(),
        Ty::Number => "f64".to_owned(),
        Ty::Boolean => "bool".to_owned(),
        Ty::Json => "cfn::Json".to_owned(),
        Ty::Enum(name) => name.clone(),
        Ty::Struct { name, boxed: false } => name.clone(),
        Ty::Struct { name, boxed: true } => format!("Box<{name}>"),
        Ty::List(item) => format!("Vec<{}>", element(item)),
        Ty::Map(item) => format!("BTreeMap<String, {}>", element(item)),
    }
}

/// The type of a list item or map value: scalars stay `cfn::Value` so each may be an intrinsic.
fn element(ty: &Ty) -> String {
    match ty {
        Ty::Struct { name, .. } => name.clone(),
        Ty::Json => "cfn::Json".to_owned(),
        other => format!("cfn::Value<{}>", inner(other)),
    }
}

fn value_type(ty: &Ty) -> String {
    format!("cfn::Value<{}>", inner(ty))
}

fn doc(out: &mut String, text: &Option<String>) {
    if let Some(text) = text {
        let _ = writeln!(out, "/// {text}");
    }
}

fn setter_name(field: &Field) -> &str {
    &field.rust_name
}

fn emit_struct(out: &mut String, def: &StructDef, resource: Option<&ResourceModel>) {
    doc(out, &def.doc);
    let _ = writeln!(out, "#[derive(Debug, Clone, PartialEq)]");
    let _ = writeln!(out, "pub struct {} {{", def.name);
    for field in &def.fields {
        doc(out, &field.doc);
        let ty = value_type(&field.ty);
        if field.required {
            let _ = writeln!(out, "pub {}: {ty},", field.rust_name);
        } else {
            let _ = writeln!(out, "pub {}: Option<{ty}>,", field.rust_name);
        }
    }
    let _ = writeln!(out, "}}\n");

    let required: Vec<&Field> = def.fields.iter().filter(|f| f.required).collect();
    let _ = writeln!(out, "impl {} {{", def.name);
    let _ = writeln!(out, "/// A value with the required properties set and every optional one unset.");
    if required.len() > 7 {
        let _ = writeln!(out, "#[allow(clippy::too_many_arguments)]");
    }
    let params: Vec<String> =
        required.iter().map(|f| format!("{}: impl Into<{}>", f.rust_name, value_type(&f.ty))).collect();
    let _ = writeln!(out, "pub fn new({}) -> Self {{", params.join(", "));
    let _ = writeln!(out, "Self {{");
    for field in &def.fields {
        if field.required {
            let _ = writeln!(out, "{0}: {0}.into(),", field.rust_name);
        } else {
            let _ = writeln!(out, "{}: None,", field.rust_name);
        }
    }
    let _ = writeln!(out, "}}\n}}");
    for field in def.fields.iter().filter(|f| !f.required) {
        let _ = writeln!(out, "/// Sets `{}`.", field.json_name);
        let _ = writeln!(
            out,
            "pub fn {}(mut self, value: impl Into<{}>) -> Self {{ self.{} = Some(value.into()); self }}",
            setter_name(field),
            value_type(&field.ty),
            field.rust_name
        );
    }
    let _ = writeln!(out, "}}\n");
    if required.is_empty() {
        let _ = writeln!(out, "impl Default for {0} {{ fn default() -> Self {{ Self::new() }} }}\n", def.name);
    }

    let _ = writeln!(out, "impl cfn::ToJson for {} {{", def.name);
    let _ = writeln!(out, "fn to_json(&self) -> cfn::Json {{");
    if def.fields.is_empty() {
        let _ = writeln!(out, "cfn::Json::Object(BTreeMap::new())");
    } else {
        let _ = writeln!(out, "let mut properties = BTreeMap::new();");
        for field in &def.fields {
            if field.required {
                let _ = writeln!(
                    out,
                    "properties.insert({:?}.to_owned(), self.{}.to_json());",
                    field.json_name, field.rust_name
                );
            } else {
                let _ = writeln!(
                    out,
                    "if let Some(value) = &self.{} {{ properties.insert({:?}.to_owned(), value.to_json()); }}",
                    field.rust_name, field.json_name
                );
            }
        }
        let _ = writeln!(out, "cfn::Json::Object(properties)");
    }
    let _ = writeln!(out, "}}\n}}\n");

    if resource.is_none() {
        let _ = writeln!(
            out,
            "impl From<{0}> for cfn::Value<{0}> {{ fn from(value: {0}) -> Self {{ cfn::Value::Literal(value) }} }}",
            def.name
        );
        let _ = writeln!(
            out,
            "impl From<{0}> for cfn::Value<Box<{0}>> {{ fn from(value: {0}) -> Self {{ cfn::Value::Literal(Box::new(value)) }} }}\n",
            def.name
        );
    }
}

fn emit_enum(out: &mut String, def: &EnumDef) {
    doc(out, &def.doc);
    let _ = writeln!(out, "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]");
    let _ = writeln!(out, "pub enum {} {{", def.name);
    for (variant, value) in &def.variants {
        let _ = writeln!(out, "/// `{value}`");
        let _ = writeln!(out, "{variant},");
    }
    let _ = writeln!(out, "}}\n");
    let _ = writeln!(out, "impl {} {{", def.name);
    let _ = writeln!(out, "/// The value as the template spells it.");
    let _ = writeln!(out, "pub fn as_str(self) -> &'static str {{ match self {{");
    for (variant, value) in &def.variants {
        let _ = writeln!(out, "Self::{variant} => {value:?},");
    }
    let _ = writeln!(out, "}} }}\n}}\n");
    let _ = writeln!(
        out,
        "impl cfn::ToJson for {} {{ fn to_json(&self) -> cfn::Json {{ cfn::Json::String(self.as_str().to_owned()) }} }}",
        def.name
    );
    let _ = writeln!(
        out,
        "impl From<{0}> for cfn::Value<{0}> {{ fn from(value: {0}) -> Self {{ cfn::Value::Literal(value) }} }}\n",
        def.name
    );
}

/// The source of one resource type's module.
pub fn resource_module(model: &ResourceModel, schema_file: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "// @generated by `cargo xtask codegen` from schemas/{schema_file}. Do not edit.");
    let _ = writeln!(out, "//! `{}`", model.type_name);
    if let Some(text) = &model.doc {
        let _ = writeln!(out, "//!\n//! {text}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "#![allow(clippy::all, unused_imports)]\n");
    let _ = writeln!(out, "use std::collections::BTreeMap;\n");
    let _ = writeln!(out, "use crate::cfn::{{self, ToJson}};\n");

    let resource = &model.structs[0];
    emit_struct(&mut out, resource, Some(model));

    let _ = writeln!(out, "impl cfn::Resource for {} {{", resource.name);
    let _ = writeln!(out, "const TYPE_NAME: &'static str = {:?};", model.type_name);
    let _ = writeln!(out, "const CREATE_ONLY_PROPERTIES: &'static [&'static str] = &[");
    for path in &model.create_only {
        let _ = writeln!(out, "{path:?},");
    }
    let _ = writeln!(out, "];\n}}\n");

    if !model.attributes.is_empty() {
        let _ = writeln!(out, "/// The read-only attributes, for `Fn::GetAtt`.");
        let _ = writeln!(out, "impl cfn::Handle<{}> {{", resource.name);
        for attribute in &model.attributes {
            let _ = writeln!(out, "/// `Fn::GetAtt` `{}`.", attribute.name);
            let _ = writeln!(
                out,
                "pub fn {}(&self) -> cfn::Expr<{}> {{ self.get_att({:?}) }}",
                attribute.method,
                inner(&attribute.ty),
                attribute.name
            );
        }
        let _ = writeln!(out, "}}\n");
    }

    for def in &model.structs[1..] {
        emit_struct(&mut out, def, None);
    }
    for def in &model.enums {
        emit_enum(&mut out, def);
    }
    out
}
