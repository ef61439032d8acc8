//! Custom domains: a public ACM certificate validated by DNS, and Route 53 alias records that
//! point the name at a service (CloudFront, API Gateway).

use crate::aws::certificatemanager::certificate::{Certificate, DomainValidationOption};
use crate::aws::route53::record_set::{AliasTarget, RecordSet};
use crate::cfn::{App, Handle, Result, StackId};

/// A certificate for `name`, validated by DNS. With `hosted_zone_id`, CloudFormation adds the
/// validation record itself; without it, the stack waits until someone adds it.
pub fn dns_validated_certificate(
    app: &mut App,
    stack: StackId,
    id: &str,
    name: &str,
    hosted_zone_id: Option<&str>,
) -> Result<Handle<Certificate>> {
    let mut certificate = Certificate::new(name).validation_method("DNS");
    if let Some(zone) = hosted_zone_id {
        certificate = certificate
            .domain_validation_options(vec![DomainValidationOption::new().domain_name(name).hosted_zone_id(zone)]);
    }
    app.add(stack, id, certificate)
}

/// Alias records of each of `kinds` (`"A"`, `"AAAA"`) for `name` in `hosted_zone_id`, pointing
/// at `target`. Logical ids `<Id><Kind>`: `SiteRecordA`, `SiteRecordAaaa`.
pub fn alias_records(
    app: &mut App,
    stack: StackId,
    id: &str,
    name: &str,
    hosted_zone_id: &str,
    kinds: &[&str],
    target: AliasTarget,
) -> Result<()> {
    for kind in kinds {
        let logical_id = format!("{id}{}{}", &kind[..1], kind[1..].to_lowercase());
        let record = RecordSet::new(name, *kind).hosted_zone_id(hosted_zone_id).alias_target(target.clone());
        app.add(stack, &logical_id, record)?;
    }
    Ok(())
}
