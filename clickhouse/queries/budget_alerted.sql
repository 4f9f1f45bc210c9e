-- Which of a budget's threshold alerts (by fingerprint) the detector already
-- raised since {from}: a restarted detector does not raise them again while
-- spend stays above their thresholds.
SELECT DISTINCT a.fingerprint AS fingerprint
FROM costline.alerts AS a
WHERE a.tenant = {tenant:String}
  AND a.fingerprint IN {fingerprints:Array(String)}
  AND a.status = 'firing'
  AND a.detected_at >= {from:DateTime64(3, 'UTC')}
