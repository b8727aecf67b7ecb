//! # drkit-derive
//!
//! `#[derive(HasBase)]`: an action struct's accessors to its `base: Base<Self>` field (its id,
//! parameters, resource, port and wait policy), so no kind writes them.
//!
//! `#[derive(Params)]`: the documentation of an action's parameter struct, taken from the
//! struct itself, so a parameter's name, type, whether it is required and what it means are
//! written once. It implements `drkit_core::registry::Params` (re-exported as
//! `drkit_core::Params`), whose `DOCS` become the parameters of the kind's
//! `ActionDescriptor` (what `drkit actions` prints and the docs pages are checked against).
//!
//! For each field (in declaration order):
//! - **name**: the field's name, or its `#[serde(rename = "...")]`; `#[serde(skip)]` fields
//!   are left out;
//! - **required**: unless the field is an `Option<_>` or has `#[serde(default)]`;
//! - **type**: from the Rust type (`String` -> `string`, integers -> `integer`, `bool` ->
//!   `bool`, `Duration` -> `duration`, `SecretRef` -> `secret reference`, `Vec<_>` -> `list`,
//!   maps -> `table`), or `#[param(ty = "RFC 3339 time")]`; any other type must say
//!   `#[param(ty = "...")]` (a compile error says so);
//! - **doc**: the field's doc comment, as one line.
//!
//! ```text
//! #[derive(Debug, Clone, serde::Deserialize, drkit_core::Params)]
//! #[serde(deny_unknown_fields)]
//! pub struct FailoverDbClusterParams {
//!     /// The DB cluster identifier.
//!     pub cluster: String,
//!     /// The reader to promote; RDS chooses by promotion tier when absent.
//!     #[serde(default)]
//!     pub target_instance: Option<String>,
//! }
//! ```

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::{
    Attribute, Data, DeriveInput, Expr, ExprLit, Fields, GenericArgument, Lit, Meta, PathArguments,
    Type, parse_macro_input,
};

/// Implements `drkit_core::kind::HasBase` for an action struct with a field `base:
/// Base<Self>`: the accessors every kind needs, written once.
///
/// ```text
/// #[derive(Debug, drkit_core::HasBase)]
/// pub struct FailoverDbCluster {
///     base: Base<Self>,
///     requested_from: Memo<String>,
/// }
/// ```
#[proc_macro_derive(HasBase)]
pub fn derive_has_base(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    let has_base = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(fields) => fields
                .named
                .iter()
                .any(|f| f.ident.as_ref().is_some_and(|i| i == "base")),
            _ => false,
        },
        _ => false,
    };
    if !has_base {
        return syn::Error::new_spanned(
            &input,
            "#[derive(HasBase)] needs a struct with a field `base: Base<Self>`",
        )
        .to_compile_error()
        .into();
    }
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        impl #impl_generics ::drkit_core::kind::HasBase for #name #ty_generics #where_clause {
            fn base(&self) -> &::drkit_core::kind::Base<Self> {
                &self.base
            }
            fn base_mut(&mut self) -> &mut ::drkit_core::kind::Base<Self> {
                &mut self.base
            }
        }
    }
    .into()
}

/// Implements `drkit_core::registry::Params` for a struct with named fields: see the crate
/// docs.
#[proc_macro_derive(Params, attributes(param))]
pub fn derive_params(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            input,
            "#[derive(Params)] works on structs with named fields",
        ));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new_spanned(
            input,
            "#[derive(Params)] works on structs with named fields",
        ));
    };
    let mut docs = Vec::new();
    for field in &fields.named {
        let serde = SerdeField::of(&field.attrs)?;
        if serde.skip {
            continue;
        }
        let ident = field
            .ident
            .as_ref()
            .ok_or_else(|| syn::Error::new_spanned(field, "a named field has a name"))?;
        let name = serde
            .rename
            .unwrap_or_else(|| ident.to_string().trim_start_matches("r#").to_owned());
        let (inner, optional) = match option_inner(&field.ty) {
            Some(inner) => (inner, true),
            None => (&field.ty, false),
        };
        let ty = match param_ty(&field.attrs)? {
            Some(ty) => ty,
            None => type_name(inner).ok_or_else(|| {
                syn::Error::new_spanned(
                    &field.ty,
                    format!(
                        "#[derive(Params)]: say what `{name}` is for the docs, e.g. \
                         #[param(ty = \"table\")]"
                    ),
                )
            })?,
        };
        let doc = doc_comment(&field.attrs);
        if doc.is_empty() {
            return Err(syn::Error::new_spanned(
                field,
                format!("#[derive(Params)]: parameter `{name}` needs a doc comment"),
            ));
        }
        let required = !(optional || serde.default);
        docs.push(quote! {
            ::drkit_core::registry::ParamDoc {
                name: #name,
                ty: #ty,
                required: #required,
                doc: #doc,
            }
        });
    }
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics ::drkit_core::registry::Params for #name #ty_generics #where_clause {
            const DOCS: &'static [::drkit_core::registry::ParamDoc] = &[#(#docs),*];
        }
    })
}

/// What `#[serde(...)]` says about a field.
#[derive(Default)]
struct SerdeField {
    rename: Option<String>,
    default: bool,
    skip: bool,
}

impl SerdeField {
    fn of(attrs: &[Attribute]) -> syn::Result<Self> {
        let mut out = Self::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    let value: syn::LitStr = meta.value()?.parse()?;
                    out.rename = Some(value.value());
                } else if meta.path.is_ident("default") {
                    out.default = true;
                    if meta.input.peek(syn::Token![=]) {
                        let _: syn::LitStr = meta.value()?.parse()?;
                    }
                } else if meta.path.is_ident("skip") || meta.path.is_ident("skip_deserializing") {
                    out.skip = true;
                } else if meta.input.peek(syn::Token![=]) {
                    // with, deserialize_with, alias, ...: not about the docs.
                    let _: Expr = meta.value()?.parse()?;
                } else if meta.input.peek(syn::token::Paren) {
                    let _content;
                    syn::parenthesized!(_content in meta.input);
                    let _: TokenStream2 = _content.parse()?;
                }
                Ok(())
            })?;
        }
        Ok(out)
    }
}

/// `#[param(ty = "...")]`, if given.
fn param_ty(attrs: &[Attribute]) -> syn::Result<Option<String>> {
    let mut ty = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("param")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("ty") {
                let value: syn::LitStr = meta.value()?.parse()?;
                ty = Some(value.value());
                Ok(())
            } else {
                Err(meta.error("unknown #[param] setting; expected `ty = \"...\"`"))
            }
        })?;
    }
    Ok(ty)
}

/// The doc comment, as one line: lines joined with spaces, a final period dropped.
fn doc_comment(attrs: &[Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(s.value().trim().to_owned()),
                _ => None,
            },
            _ => None,
        })
        .filter(|l| !l.is_empty())
        .collect();
    let text = lines.join(" ");
    text.strip_suffix('.').map_or(text.clone(), str::to_owned)
}

/// The `T` of `Option<T>`.
fn option_inner(ty: &Type) -> Option<&Type> {
    let (name, args) = last_segment(ty)?;
    if name != "Option" {
        return None;
    }
    args.into_iter().next()
}

/// The last path segment's name and its type arguments.
fn last_segment(ty: &Type) -> Option<(String, Vec<&Type>)> {
    let Type::Path(path) = ty else { return None };
    let seg = path.path.segments.last()?;
    let args = match &seg.arguments {
        PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .filter_map(|g| match g {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Some((seg.ident.to_string(), args))
}

/// The type in words, for the types whose words are obvious.
fn type_name(ty: &Type) -> Option<String> {
    let (name, _) = last_segment(ty)?;
    let words = match name.as_str() {
        "String" | "str" => "string",
        "bool" => "bool",
        "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize" => {
            "integer"
        }
        "f32" | "f64" => "number",
        "Duration" => "duration",
        "SecretRef" => "secret reference",
        "PathBuf" => "path",
        "Vec" | "BTreeSet" | "HashSet" => "list",
        "BTreeMap" | "HashMap" => "table",
        _ => return None,
    };
    Some(words.to_owned())
}
