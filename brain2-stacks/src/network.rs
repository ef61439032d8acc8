//! The private network the data-handling Lambdas (backend, connect-node, ws-connect,
//! ws-disconnect) run in where the environment asks for one: two private subnets in two AZs,
//! no NAT gateway, and VPC endpoints for the AWS APIs those functions call. The policy rule
//! `vpc-reachability` checks that every service and URL a VPC function is granted or
//! configured to call has a way out.

use brain2_iac::aws::ec2::security_group::{Egress, Ingress};
use brain2_iac::aws::ec2::vpc_endpoint::VpcEndpointType;
use brain2_iac::aws::ec2::{RouteTable, SecurityGroup, Subnet, SubnetRouteTableAssociation, Vpc, VpcEndpoint};
use brain2_iac::cfn::{App, Result, StackId, Value, fns};
use brain2_iac::config::EnvironmentConfig;
use brain2_iac::constructs::function::VpcAttachment;

/// DynamoDB (the tables) and S3 (the backend's large exports) through gateway endpoints.
const GATEWAY_ENDPOINTS: &[(&str, &str)] = &[("DynamoDbEndpoint", "dynamodb"), ("S3Endpoint", "s3")];

/// What the functions inside the VPC call besides DynamoDB and S3: EventBridge.
/// The authorizer (Secrets Manager, the Supabase JWKS) and ws-send-message (the WebSocket API's
/// public management endpoint) run outside the VPC. An `execute-api` endpoint with private DNS
/// would even take the public API's hostname away from every function in the VPC: it serves
/// only private APIs.
const INTERFACE_ENDPOINTS: &[(&str, &str)] = &[("EventsEndpoint", "events")];

pub(super) fn build(app: &mut App, stack: StackId, config: &EnvironmentConfig) -> Result<VpcAttachment> {
    let cidr = config.network.cidr.as_str();
    let second_octet = cidr.split('.').nth(1).unwrap_or("0");
    let vpc = app.add(
        stack,
        "Vpc",
        // DNS support and hostnames are what private DNS on interface endpoints needs.
        Vpc::new().cidr_block(cidr).enable_dns_support(true).enable_dns_hostnames(true),
    )?;
    let route_table = app.add(stack, "PrivateRouteTable", RouteTable::new(vpc.ref_()))?;
    let mut subnets: Vec<Value<String>> = Vec::new();
    for az in 0..2u32 {
        let subnet = app.add(
            stack,
            &format!("PrivateSubnet{}", az + 1),
            Subnet::new(vpc.ref_())
                .cidr_block(format!("10.{second_octet}.{az}.0/24"))
                .availability_zone(fns::select(az, fns::get_azs("")))
                .map_public_ip_on_launch(false),
        )?;
        app.add(
            stack,
            &format!("PrivateSubnet{}RouteTable", az + 1),
            SubnetRouteTableAssociation::new(route_table.ref_(), subnet.ref_()),
        )?;
        subnets.push(subnet.ref_().into());
    }
    let https_only = app.add(
        stack,
        "HttpsOnlySecurityGroup",
        SecurityGroup::new("HTTPS between the functions and the VPC endpoints, nothing else")
            .vpc_id(vpc.ref_())
            .security_group_ingress(vec![
                Ingress::new("tcp")
                    .from_port(443)
                    .to_port(443)
                    .cidr_ip(cidr)
                    .description("HTTPS from inside the VPC to the interface endpoints"),
            ])
            .security_group_egress(vec![
                Egress::new("tcp")
                    .from_port(443)
                    .to_port(443)
                    .cidr_ip("0.0.0.0/0")
                    .description("HTTPS out; with no NAT or internet gateway only the endpoints are reachable"),
            ]),
    )?;
    // The regional service name of one AWS service's endpoint.
    let endpoint = |service: &str| {
        VpcEndpoint::new(vpc.ref_())
            .service_name(fns::sub(&format!("com.amazonaws.${{AWS::Region}}.{service}"), Vec::<(&str, &str)>::new()))
    };
    // Gateway endpoints are free: DynamoDB for the tables, S3 for the backend's large exports.
    for (logical_id, service) in GATEWAY_ENDPOINTS {
        app.add(
            stack,
            logical_id,
            endpoint(service).vpc_endpoint_type(VpcEndpointType::Gateway).route_table_ids(vec![route_table.ref_()]),
        )?;
    }
    for (logical_id, service) in INTERFACE_ENDPOINTS {
        app.add(
            stack,
            logical_id,
            endpoint(service)
                .vpc_endpoint_type(VpcEndpointType::Interface)
                .private_dns_enabled(true)
                .subnet_ids(subnets.clone())
                .security_group_ids(vec![https_only.ref_()]),
        )?;
    }
    Ok(VpcAttachment { subnet_ids: subnets, security_group_ids: vec![https_only.ref_().into()] })
}
