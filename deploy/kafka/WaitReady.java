// Waits until a Kafka cluster answers a metadata request, via the AdminClient shipped with
// the broker jars. Run in Java's single-file source mode: java -cp 'lib/*' WaitReady.java ...
// Usage: WaitReady <bootstrap> <expected-brokers> <timeout-seconds> [client.properties]
// The optional properties file holds client settings (kafka.sh passes one to wait for its
// secured listeners with the SCRAM user and the test CA).
import java.io.FileReader;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;

public class WaitReady {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        int expected = Integer.parseInt(args[1]);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(args[2]));
        Properties props = new Properties();
        if (args.length > 3) {
            try (FileReader settings = new FileReader(args[3])) {
                props.load(settings);
            }
        }
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "2000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "3000");
        String last = "no answer yet";
        try (Admin admin = Admin.create(props)) {
            while (System.nanoTime() < deadline) {
                try {
                    int brokers = admin.describeCluster(new DescribeClusterOptions().timeoutMs(3000))
                            .nodes().get(4, TimeUnit.SECONDS).size();
                    if (brokers >= expected) {
                        System.out.println("kafka at " + bootstrap + " answers metadata with " + brokers + " broker(s)");
                        return;
                    }
                    last = brokers + " of " + expected + " brokers registered";
                } catch (Exception e) {
                    last = e.getClass().getSimpleName() + ": " + e.getMessage();
                }
                Thread.sleep(300);
            }
        }
        System.err.println("kafka at " + bootstrap + " did not become ready: " + last);
        System.exit(1);
    }
}
