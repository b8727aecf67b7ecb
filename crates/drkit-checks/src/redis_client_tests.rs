//! Tests of `redis_client.rs`.

use super::*;

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

#[test]
fn role_answers_are_parsed() {
    let primary = Value::Array(vec![
        bulk("master"),
        Value::Int(3129659),
        Value::Array(vec![Value::Array(vec![
            bulk("127.0.0.1"),
            bulk("9001"),
            bulk("3129242"),
        ])]),
    ]);
    assert_eq!(
        parse_role(&primary).unwrap(),
        RoleInfo::Primary {
            offset: 3129659,
            replicas: vec!["127.0.0.1:9001".into()]
        }
    );
    let replica = Value::Array(vec![
        bulk("slave"),
        bulk("127.0.0.1"),
        Value::Int(9000),
        bulk("connected"),
        Value::Int(3167038),
    ]);
    assert_eq!(
        parse_role(&replica).unwrap(),
        RoleInfo::Replica {
            primary: "127.0.0.1:9000".into(),
            link_state: "connected".into(),
            offset: 3167038
        }
    );
    let sentinel = Value::Array(vec![
        bulk("sentinel"),
        Value::Array(vec![bulk("resque-master")]),
    ]);
    assert_eq!(
        parse_role(&sentinel).unwrap(),
        RoleInfo::Sentinel {
            masters: vec!["resque-master".into()]
        }
    );
    assert!(parse_role(&Value::Nil).is_err());
    assert!(parse_role(&Value::Array(vec![bulk("leader")])).is_err());
}

#[test]
fn info_sections_are_parsed() {
    let info = "# Replication\r\nrole:master\r\nconnected_slaves:1\r\nslave0:ip=127.0.0.1,port=6380,state=online\r\n\r\n";
    let map = parse_info(info);
    assert_eq!(map["role"], "master");
    assert_eq!(map["connected_slaves"], "1");
    assert_eq!(map["slave0"], "ip=127.0.0.1,port=6380,state=online");
    assert_eq!(map.len(), 3);
}
