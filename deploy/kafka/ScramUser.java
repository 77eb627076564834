// Creates (or updates) a SCRAM-SHA-512 user on a running broker through the Admin API shipped
// with the broker jars, so that kafka.sh needs no kafka-configs tool and works on a data folder
// formatted before the secured listeners existed.
// Usage: ScramUser <bootstrap> <user>; the password comes from the environment variable
// CAIRN_KAFKA_SASL_PASSWORD, so it never shows in a process list.
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;

public class ScramUser {
    public static void main(String[] args) throws Exception {
        String password = System.getenv("CAIRN_KAFKA_SASL_PASSWORD");
        if (password == null || password.isEmpty()) {
            System.err.println("ScramUser: CAIRN_KAFKA_SASL_PASSWORD is not set");
            System.exit(2);
        }
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        try (Admin admin = Admin.create(props)) {
            ScramCredentialInfo info = new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096);
            admin.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion(args[1], info, password)))
                    .all().get(30, TimeUnit.SECONDS);
        }
        System.out.println("SCRAM-SHA-512 user " + args[1] + " is set on " + args[0]);
    }
}
