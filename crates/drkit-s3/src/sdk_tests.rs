//! Tests of `sdk.rs`.

#[test]
fn the_versioning_status_is_read_from_a_body_the_sdk_refuses() {
    let moto = "<?xml version=\"1.0\"?>\n<GetBucketVersioningResponse xmlns=\"x\"><Status>Enabled</Status></GetBucketVersioningResponse>";
    assert_eq!(super::versioning_status_in(moto), "Enabled");
    assert_eq!(
        super::versioning_status_in("<GetBucketVersioningResponse/>"),
        ""
    );
}

#[test]
fn bucket_names_come_from_arns() {
    assert_eq!(super::bucket_of_arn("arn:aws:s3:::mint-dr"), "mint-dr");
    assert_eq!(super::bucket_of_arn("mint-dr"), "mint-dr");
}

// --- The adapter on S3's documented answers, from a local server (real HTTP, real XML). ---

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::port::{PublicAccessBlock, S3Api};
use crate::sdk::SdkS3;

/// One canned answer: given when every needle is in the request line.
struct Answer {
    needles: &'static [&'static str],
    status: u16,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
}

const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// A server answering each request with the first matching answer (404 when none); its URL.
async fn canned(answers: Vec<Answer>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let answers = std::sync::Arc::new(answers);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let answers = std::sync::Arc::clone(&answers);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0_u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = stream.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                }
                let text = String::from_utf8_lossy(&request);
                let line = text.lines().next().unwrap_or_default().to_owned();
                let answer = answers
                    .iter()
                    .find(|a| a.needles.iter().all(|n| line.contains(n)));
                let (status, headers, body) =
                    answer.map_or((404, &[][..], ""), |a| (a.status, a.headers, a.body));
                let body = body.replace("{NS}", NS);
                let is_head = line.starts_with("HEAD ");
                let mut out = format!(
                    "HTTP/1.1 {status} X\r\nConnection: close\r\nx-amz-request-id: R1\r\nContent-Length: {}\r\n",
                    if is_head { 0 } else { body.len() }
                );
                if !body.is_empty() && !body.starts_with('{') {
                    out.push_str("Content-Type: application/xml\r\n");
                }
                for (k, v) in headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                if !is_head {
                    out.push_str(&body);
                }
                stream.write_all(out.as_bytes()).await.unwrap();
                stream.shutdown().await.ok();
            });
        }
    });
    url
}

fn adapter(url: &str) -> SdkS3 {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        ))
        .endpoint_url(url)
        .force_path_style(true)
        .build();
    SdkS3::new(aws_sdk_s3::Client::from_conf(config))
}

#[tokio::test]
async fn bucket_locations_empty_eu_and_named() {
    let url = canned(vec![
        Answer {
            needles: &["/east/?location"],
            status: 200,
            headers: &[],
            body: r#"<?xml version="1.0" encoding="UTF-8"?><LocationConstraint xmlns="{NS}"/>"#,
        },
        Answer {
            needles: &["/legacy/?location"],
            status: 200,
            headers: &[],
            body: r#"<?xml version="1.0" encoding="UTF-8"?><LocationConstraint xmlns="{NS}">EU</LocationConstraint>"#,
        },
        Answer {
            needles: &["/west/?location"],
            status: 200,
            headers: &[],
            body: r#"<?xml version="1.0" encoding="UTF-8"?><LocationConstraint xmlns="{NS}">us-west-2</LocationConstraint>"#,
        },
    ])
    .await;
    let s3 = adapter(&url);
    assert_eq!(s3.bucket_region("east").await.unwrap(), "us-east-1");
    assert_eq!(s3.bucket_region("legacy").await.unwrap(), "eu-west-1");
    assert_eq!(s3.bucket_region("west").await.unwrap(), "us-west-2");
}

#[tokio::test]
async fn replication_rules_in_every_filter_form() {
    let url = canned(vec![Answer {
        needles: &["/src/?replication"],
        status: 200,
        headers: &[],
        body: r#"<?xml version="1.0" encoding="UTF-8"?>
<ReplicationConfiguration xmlns="{NS}"><Role>arn:aws:iam::123456789012:role/replication</Role>
<Rule><ID>v1</ID><Prefix>logs/</Prefix><Status>Enabled</Status><Destination><Bucket>arn:aws:s3:::dr</Bucket></Destination></Rule>
<Rule><ID>prefix</ID><Priority>1</Priority><Filter><Prefix>img/</Prefix></Filter><Status>Enabled</Status><DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication><Destination><Bucket>arn:aws:s3:::dr</Bucket></Destination></Rule>
<Rule><ID>tag</ID><Priority>2</Priority><Filter><Tag><Key>dr</Key><Value>yes</Value></Tag></Filter><Status>Disabled</Status><DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication><Destination><Bucket>arn:aws:s3:::dr-eu</Bucket></Destination></Rule>
<Rule><ID>and</ID><Priority>3</Priority><Filter><And><Prefix>docs/</Prefix><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>b</Key><Value>2</Value></Tag></And></Filter><Status>Enabled</Status><DeleteMarkerReplication><Status>Enabled</Status></DeleteMarkerReplication><Destination><Bucket>arn:aws:s3:::dr</Bucket></Destination></Rule>
<Rule><ID>all</ID><Priority>4</Priority><Filter></Filter><Status>Enabled</Status><DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication><Destination><Bucket>arn:aws:s3:::dr</Bucket></Destination></Rule>
</ReplicationConfiguration>"#,
    }])
    .await;
    let config = adapter(&url).replication("src").await.unwrap().unwrap();
    let seen: Vec<(&str, bool, &str, &str, usize)> = config
        .rules
        .iter()
        .map(|r| {
            (
                r.id.as_deref().unwrap(),
                r.enabled,
                r.destination_bucket.as_str(),
                r.prefix.as_str(),
                r.tags.len(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("v1", true, "dr", "logs/", 0),
            ("prefix", true, "dr", "img/", 0),
            ("tag", false, "dr-eu", "", 1),
            ("and", true, "dr", "docs/", 2),
            ("all", true, "dr", "", 0),
        ]
    );
    assert_eq!(config.rules[3].tags[1], ("b".to_owned(), "2".to_owned()));
}

#[tokio::test]
async fn listing_pages_follow_the_continuation_token() {
    let url = canned(vec![
        Answer {
            needles: &["/src/?", "list-type=2", "continuation-token=1ueGcxLPRx1Tr%2FXYExHnhbYLgveDs2J%2Fwm36Hy4vbOwM%3D"],
            status: 200,
            headers: &[],
            body: r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="{NS}"><Name>src</Name><Prefix>img/</Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>
<Contents><Key>img/c.png</Key><LastModified>2009-10-12T17:50:32.000Z</LastModified><ETag>"c"</ETag><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents>
</ListBucketResult>"#,
        },
        Answer {
            needles: &["/src/?", "list-type=2", "prefix=img%2F"],
            status: 200,
            headers: &[],
            body: r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="{NS}"><Name>src</Name><Prefix>img/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>
<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
<Contents><Key>img/a.png</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified><ETag>"a"</ETag><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>img/b.png</Key><LastModified>2009-10-12T17:50:31.000Z</LastModified><ETag>"b"</ETag><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents>
</ListBucketResult>"#,
        },
    ])
    .await;
    let s3 = adapter(&url);
    let first = s3.list_objects("src", Some("img/"), None).await.unwrap();
    let keys: Vec<&str> = first.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["img/a.png", "img/b.png"]);
    assert_eq!(
        first.next.as_deref(),
        Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
    );
    let second = s3
        .list_objects("src", Some("img/"), first.next.as_deref())
        .await
        .unwrap();
    assert_eq!(second.objects.len(), 1);
    assert_eq!(second.next, None);
    assert_eq!(
        second.objects[0].last_modified,
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_255_369_832)
    );
}

#[tokio::test]
async fn head_object_reads_the_replication_status_version_and_tag_count() {
    let url = canned(vec![
        Answer {
            needles: &["HEAD /src/pending.png"],
            status: 200,
            headers: &[
                ("x-amz-replication-status", "PENDING"),
                ("x-amz-version-id", "3HL4kqtJlcpXroDTDmJ"),
                ("x-amz-tagging-count", "2"),
                ("Last-Modified", "Mon, 12 Oct 2009 17:50:30 GMT"),
                ("ETag", "\"e\""),
            ],
            body: "",
        },
        Answer {
            needles: &["HEAD /dr/pending.png", "versionId=3HL4kqtJlcpXroDTDmJ"],
            status: 200,
            headers: &[("x-amz-replication-status", "REPLICA")],
            body: "",
        },
        Answer {
            needles: &["HEAD /src/plain.png"],
            status: 200,
            headers: &[("Last-Modified", "Mon, 12 Oct 2009 17:50:30 GMT")],
            body: "",
        },
        Answer {
            needles: &["/src/pending.png?tagging"],
            status: 200,
            headers: &[],
            body: r#"<?xml version="1.0" encoding="UTF-8"?><Tagging xmlns="{NS}"><TagSet><Tag><Key>dr</Key><Value>yes</Value></Tag><Tag><Key>team</Key><Value>web</Value></Tag></TagSet></Tagging>"#,
        },
    ])
    .await;
    let s3 = adapter(&url);
    let o = s3
        .head_object("src", "pending.png", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.replication_status.as_deref(), Some("PENDING"));
    assert_eq!(o.version_id.as_deref(), Some("3HL4kqtJlcpXroDTDmJ"));
    assert_eq!(o.tag_count, 2);
    let replica = s3
        .head_object("dr", "pending.png", Some("3HL4kqtJlcpXroDTDmJ"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(replica.replication_status.as_deref(), Some("REPLICA"));
    let plain = s3
        .head_object("src", "plain.png", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((plain.replication_status, plain.tag_count), (None, 0));
    // A HEAD's 404 has no body: absent.
    assert_eq!(s3.head_object("src", "gone.png", None).await.unwrap(), None);
    assert_eq!(
        s3.object_tags("src", "pending.png").await.unwrap(),
        [
            ("dr".to_owned(), "yes".to_owned()),
            ("team".to_owned(), "web".to_owned())
        ]
    );
}

#[tokio::test]
async fn public_access_block_and_policy_absent_or_present() {
    let url = canned(vec![
        Answer {
            needles: &["/bare/?publicAccessBlock"],
            status: 404,
            headers: &[],
            body: r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchPublicAccessBlockConfiguration</Code><Message>The public access block configuration was not found</Message><BucketName>bare</BucketName><RequestId>R1</RequestId><HostId>H1</HostId></Error>"#,
        },
        Answer {
            needles: &["/bare/?policy"],
            status: 404,
            headers: &[],
            body: r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchBucketPolicy</Code><Message>The bucket policy does not exist</Message><BucketName>bare</BucketName><RequestId>R1</RequestId><HostId>H1</HostId></Error>"#,
        },
        Answer {
            needles: &["/new/?publicAccessBlock"],
            status: 200,
            headers: &[],
            body: r#"<?xml version="1.0" encoding="UTF-8"?><PublicAccessBlockConfiguration xmlns="{NS}"><BlockPublicAcls>true</BlockPublicAcls><IgnorePublicAcls>true</IgnorePublicAcls><BlockPublicPolicy>true</BlockPublicPolicy><RestrictPublicBuckets>true</RestrictPublicBuckets></PublicAccessBlockConfiguration>"#,
        },
        Answer {
            needles: &["/new/?policy"],
            status: 200,
            headers: &[("Content-Type", "application/json")],
            body: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::new/*"}]}"#,
        },
        Answer {
            needles: &["/gone/?publicAccessBlock"],
            status: 404,
            headers: &[],
            body: r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message><BucketName>gone</BucketName><RequestId>R1</RequestId><HostId>H1</HostId></Error>"#,
        },
    ])
    .await;
    let s3 = adapter(&url);
    assert_eq!(s3.public_access_block("bare").await.unwrap(), None);
    assert_eq!(s3.bucket_policy("bare").await.unwrap(), None);
    assert_eq!(
        s3.public_access_block("new").await.unwrap(),
        Some(PublicAccessBlock::all(true))
    );
    assert!(
        s3.bucket_policy("new")
            .await
            .unwrap()
            .unwrap()
            .contains("arn:aws:s3:::new/*")
    );
    // A missing bucket stays an error.
    let e = s3.public_access_block("gone").await.unwrap_err();
    assert_eq!(e.kind(), drkit_core::ErrorKind::NotFound);
    assert_eq!(e.code(), Some("NoSuchBucket"));
}
